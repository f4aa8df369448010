import FastVimCUDA
import FastVimServing
import Foundation
import Testing
import TestSupport

/// The accuracy cost of `--precision tf32/bf16`, estimated on the host: the bundled digits
/// model (trained, models/fastvim-digits) evaluated over its 360 held-out images through
/// the GPU forward pass on the emulated device, GEMM inputs rounded as the GPU rounds them.
/// docs/BENCHMARKS.md records the figures this prints.
@Suite struct PrecisionCostTests {
    static let dir = Fixtures.repository + "/models/fastvim-digits"

    @Test func reducedPrecisionCostsLittleHeldOutAccuracy() throws {
        let cpu = try Evaluation(directory: Self.dir + "/heldout")
            .run(Classifier(bundle: try ModelBundle(checkpoint: Self.dir + "/fastvim_digits.pth"), maxBatch: 40))
        var top1: [GemmPrecision: Double] = [:]
        // fp32 on the device is the fixtures' business (EmulatedForwardTests); here the cost of the others.
        for precision in [GemmPrecision.tf32, .bf16] {
            let backend = KernelBackend(name: "emulated", device: try EmulatedDevice(precision: precision))
            let bundle = try ModelBundle(checkpoint: Self.dir + "/fastvim_digits.pth", backend: backend)
            let result = try Evaluation(directory: Self.dir + "/heldout").run(Classifier(bundle: bundle, maxBatch: 40))
            #expect(result.images == 360 && result.refused == 0)
            top1[precision] = result.top1
            print(String(format: "held-out top-1, %@ GEMMs (emulated device): %.2f%% (CPU engine %.2f%%)",
                         precision.rawValue, result.top1 * 100, cpu.top1 * 100))
        }
        #expect(abs(top1[.tf32]! - cpu.top1) <= 0.01 && abs(top1[.bf16]! - cpu.top1) <= 0.02)
    }
}
