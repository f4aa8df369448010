import FastVimCUDA
import FastVimEngine
import Foundation
import Testing
import TestSupport

/// The GPU forward pass (`DeviceForwardPass`: the launches, arena, uploaded weights and
/// cuBLAS-shaped GEMMs) on the host emulation of the device, against the golden fixtures
/// and the CPU engine. What a GPU would add is the driver and cuBLAS themselves.
@Suite struct EmulatedForwardTests {
    static let names: [String] = (try? GoldenFixtures(directory: Fixtures.directory).cases.map(\.name)) ?? []

    @Test func everyLogitsFixtureIsCovered() {
        #expect(Self.names.count == 8)
    }

    /// Two runs through one pass: the second must not depend on what the first left behind.
    @Test(arguments: names)
    func matchesTheFixture(_ name: String) throws {
        let fixtures = try GoldenFixtures(directory: Fixtures.directory)
        let c = try #require(fixtures.cases.first { $0.name == name })
        let backend = KernelBackend(name: "emulated", device: try EmulatedDevice())
        let outcome = try fixtures.run(c, on: backend, repeats: 2)
        #expect(outcome.passed, "\(name): max |diff| \(outcome.maxDifference) > \(outcome.tolerance)")
    }

    /// The chunked scan through whole models: chunks of 3 steps forced on (the real
    /// threshold only chunks small batches of long sequences).
    @Test(arguments: ["fastvim_small", "vim_ln_small", "vim_small", "channelvim_small"])
    func matchesTheFixtureWithChunkedScans(_ name: String) throws {
        let fixtures = try GoldenFixtures(directory: Fixtures.directory)
        let c = try #require(fixtures.cases.first { $0.name == name })
        let backend = KernelBackend(name: "emulated", device: try EmulatedDevice(),
                                    chunking: .init(length: 3, belowLanes: .max))
        let outcome = try fixtures.run(c, on: backend)
        #expect(outcome.passed, "\(name): max |diff| \(outcome.maxDifference) > \(outcome.tolerance)")
    }

    /// Inputs that are not a multiple of the patch (padding), a resized position embedding,
    /// batch 3, features and logits: the device pass equals the CPU engine's.
    @Test(arguments: ["fastvim_small.ckpt", "vim_ln_small.ckpt", "vim_small.pth"])
    func agreesWithTheCPUOnOddShapes(_ checkpoint: String) throws {
        let model = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path(checkpoint)),
                                    config: try ModelConfig(json: Data(#"{"image_size": [64, 96]}"#.utf8)))
        let (b, h, w) = (3, 70, 81)
        var state: UInt32 = 7
        let input = (0 ..< b * 3 * h * w).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
        func run(_ backend: any ComputeBackend) throws -> ([Float], [Float]) {
            try backend.makePass(for: model, batch: b, height: h, width: w).run(input)
        }
        let cpu = try run(CPUBackend.shared)
        let device = try run(KernelBackend(name: "emulated", device: try EmulatedDevice()))
        expectClose(device.0, cpu.0, atol: 1e-4 * max(1, maxAbs(cpu.0)), "\(checkpoint) logits")
        expectClose(device.1, cpu.1, atol: 1e-4 * max(1, maxAbs(cpu.1)), "\(checkpoint) features")
    }

    /// The accuracy cost of the reduced-precision GEMM options, estimated on the host (the
    /// GEMM inputs rounded as the GPU rounds them), on FastVim-T's fixture: they drift more
    /// than fp32 but keep the classes' order at the top.
    @Test(arguments: [GemmPrecision.tf32, .bf16])
    func reducedPrecisionKeepsTheTopClass(_ precision: GemmPrecision) throws {
        let fixtures = try GoldenFixtures(directory: Fixtures.directory)
        let c = try #require(fixtures.cases.first { $0.name == "fastvim_t" })
        let backend = KernelBackend(name: "emulated", device: try EmulatedDevice(precision: precision))
        let outcome = try fixtures.run(c, on: backend)
        print("accuracy cost, \(precision.rawValue) GEMMs, fastvim_t fixture: max |diff| \(outcome.maxDifference) (fp32 bound \(outcome.tolerance))")
        #expect(outcome.maxDifference > 1e-6 && outcome.maxDifference < 0.5)
    }

    /// The benchmark runs unchanged on a device backend, with the per-block breakdown timed
    /// on the device (events on a GPU).
    @Test func benchmarkRunsOnTheDeviceWithAStageBreakdown() throws {
        let model = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path("fastvim_small.ckpt")),
                                    config: try ModelConfig(json: Data(#"{"image_size": [64, 96]}"#.utf8)))
        let backend = KernelBackend(name: "emulated", device: try EmulatedDevice())
        let m = try #require(try ResolutionBenchmark.measure(model, name: "fastvim_small", resolution: 64, batch: 2, warmup: 1,
                                                             iterations: 2, backend: backend))
        #expect(m.iterations == 2 && m.imagesPerSecond > 0 && m.peakMemoryBytes > 0)
        for stage in ["patch_embed", "norms", "transpose", "in_proj", "conv", "param_projection", "scan",
                      "repeat_skip_combine_norm_gate", "out_proj", "head"] {
            #expect((m.breakdown[stage] ?? 0) > 0, "no time for \(stage): \(m.breakdown)")
        }
    }

    /// Masks other than the fixture's: different kept tokens per image, whole rows missing,
    /// the device's masked encoding equals the CPU engine's.
    @Test func maskedEncodingAgreesWithTheCPU() throws {
        let model = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path("fastmaskvim_small.ckpt")))
        var random = SplitMix64(seed: 5)
        let input = random.floats(2 * 3 * 96 * 96)
        // 6x6 grid: image 0 keeps rows 0, 2 and 5 whole; image 1 a scattered 18.
        let ids = [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 30, 31, 32, 33, 34, 35,
                   0, 2, 5, 7, 8, 11, 13, 17, 19, 20, 22, 24, 26, 27, 29, 31, 33, 35]
        let cpu = try CPUBackend.shared.encodeMasked(model, input: input, batch: 2, height: 96, width: 96, idsKeep: ids)
        let device = try KernelBackend(name: "emulated", device: try EmulatedDevice())
            .encodeMasked(model, input: input, batch: 2, height: 96, width: 96, idsKeep: ids)
        expectClose(device, cpu, atol: 1e-4 * max(1, maxAbs(cpu)), "masked latent")
        #expect { _ = try KernelBackend(name: "emulated", device: try EmulatedDevice())
            .encodeMasked(model, input: input, batch: 2, height: 96, width: 96, idsKeep: [3, 2, 0, 1]) } throws: { "\($0)".contains("ids_keep") }
    }
}
