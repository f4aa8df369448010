@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

/// The ground truth: logits of the reference PyTorch implementations.
@Suite struct GoldenLogitsTests {
    static let fixtures = (try? Fixtures.expected()) ?? []

    @Test(arguments: fixtures.map(\.name))
    func matchesReference(_ name: String) throws {
        let f = try #require(Self.fixtures.first { $0.name == name })
        let model = try VisionMamba(path: Fixtures.path(f.checkpoint))
        let inputs = try SafeTensorsFile(path: Fixtures.path(f.inputsFile))
        let shape = try #require(inputs.shape(f.input), "no tensor \(f.input) in the inputs fixture")
        try #require(shape.count == 4, "input \(f.input) has shape \(shape), not (B, C, H, W)")
        #expect(Array(shape[2...]) == f.imageSize)
        let expected = f.logits.flatMap { $0 }
        let atol = 1e-4 * max(1, maxAbs(expected))
        for kernel in [VisionMamba.ScanKernel.fast, .reference] {
            let logits = try model.logits(input: try inputs.floats(f.input), batch: shape[0], height: shape[2],
                                          width: shape[3], scan: kernel)
            expectClose(logits, expected, atol: atol, "\(name) logits (\(kernel) scan)")
        }
    }

    /// Long sequences run the mixer in tiles with the conv's reach recomputed at each end:
    /// tiles far shorter than the fixtures' sequences (one pooled run, a few tokens) must
    /// still give the reference's logits, for every family, in a batch and alone.
    @Test(arguments: fixtures.map(\.name))
    func tiledMatchesReference(_ name: String) throws {
        let (f, model, input, shape) = try Self.load(name)
        let expected = f.logits.flatMap { $0 }
        let classes = model.architecture.numClasses, per = shape[1] * shape[2] * shape[3]
        for target in [1, 5, 7] {
            for images in [0 ..< shape[0], 0 ..< 1] {
                let tiling = TokenTiling(target: target, minimumBytes: 0)
                let ws = try model.makeWorkspace(batch: images.count, height: shape[2], width: shape[3], tiling: tiling)
                #expect(ws.tiling?.applies(sequence: ws.sequence, innerDim: model.architecture.innerDim) == true && ws.isTiledOnly)
                let logits = try FastVimEngineTests.logits(model, Array(input[images.lowerBound * per ..< images.upperBound * per]),
                                                           batch: images.count, height: shape[2], width: shape[3], tiling: tiling)
                let want = Array(expected[images.lowerBound * classes ..< images.upperBound * classes])
                expectClose(logits, want, atol: 1e-4 * max(1, maxAbs(want)), "\(name), tiles of about \(target), \(images.count) images")
            }
        }
    }

    /// A fixture's model, its input and the input's shape.
    static func load(_ name: String) throws -> (Fixtures.Expected, VisionMamba, [Float], [Int]) {
        let f = try #require(fixtures.first { $0.name == name })
        let inputs = try SafeTensorsFile(path: Fixtures.path(f.inputsFile))
        let shape = try #require(inputs.shape(f.input))
        return (f, try VisionMamba(path: Fixtures.path(f.checkpoint)), try inputs.floats(f.input), shape)
    }

    @Test func fixturesArePresent() throws {
        #expect(try Fixtures.expected().count >= 4, "golden fixtures not found under \(Fixtures.directory)")
    }

    /// fastvim_small records the residual stream after every stage: locate a bug block by block.
    @Test func fastvimSmallTraceBlockByBlock() throws {
        let model = try VisionMamba(path: Fixtures.path("fastvim_small.ckpt"))
        let inputs = try SafeTensorsFile(path: Fixtures.path("inputs_a.safetensors"))
        let shape = try #require(inputs.shape("fastvim_small.input"), "no tensor fastvim_small.input in inputs_a.safetensors")
        try #require(shape.count == 4, "input fastvim_small.input has shape \(shape), not (B, C, H, W)")
        // Also tiled: a traced pass keeps the norms apart, its tiles write the mixer's rows.
        for tiling in [TokenTiling(), TokenTiling(target: 6, minimumBytes: 0)] {
            let ws = try model.makeWorkspace(batch: shape[0], height: shape[2], width: shape[3], tiling: tiling, untiledBuffers: true)
            var seen: [String: [Float]] = [:]
            let input = try inputs.floats("fastvim_small.input")
            input.withUnsafeBufferPointer { p in
                model.forward(ws, input: p.baseAddress!, logits: nil) { name, values in seen[name] = Array(values) }
            }
            let traced = inputs.names.filter { $0.hasPrefix("fastvim_small.trace.") }
            #expect(traced.count == 10)
            for name in traced {
                let stage = String(name.dropFirst("fastvim_small.trace.".count))
                let expected = try inputs.floats(name)
                let ours = try #require(seen[stage], "forward did not trace \(stage)")
                expectClose(ours, expected, atol: 1e-4 * max(1, maxAbs(expected)), "trace \(stage), tiles of about \(tiling.target)")
            }
        }
    }

    @Test func fastvimTinyHasThePublishedParameterCount() throws {
        let model = try VisionMamba(path: Fixtures.path("fastvim_t.pth"))
        #expect(model.parameterCount == 7_166_056)
        let a = model.architecture
        #expect(a.family == .fastvim && a.embedDim == 192 && a.depth == 24 && a.innerDim == 384)
        #expect(a.dtRank == 12 && a.stateDim == 16 && a.numClasses == 1000 && a.patchSize == 16)
    }

    @Test func familiesAreReadFromTheKeys() throws {
        #expect(try VisionMamba(path: Fixtures.path("fastvim_small.ckpt")).architecture.family == .fastvim)
        #expect(try VisionMamba(path: Fixtures.path("vim_ln_small.ckpt")).architecture.family == .vimLN)
        #expect(try VisionMamba(path: Fixtures.path("vim_small.pth")).architecture.family == .vim)
    }

    /// Batch items are independent: one image alone (each stage split within the image) gives
    /// the same logits as in a batch (whole blocks per thread and image, and the images left
    /// over after an equal share per thread split within them), for every family.
    @Test(arguments: fixtures.map(\.name))
    func batchOfOneMatchesBatch(_ name: String) throws {
        let (_, model, given, shape) = try Self.load(name)
        let per = shape[1] * shape[2] * shape[3], classes = model.architecture.numClasses
        // Five images, so that two threads get two each and one is left over.
        let batch = 5
        let all = (0 ..< batch * per).map { i in given[i % given.count] * (1 + Float(i / given.count) * 0.1) }
        // Untiled, and tiled (the slices and the images left over then fuse the norms too).
        for tiling in [nil, TokenTiling(target: 5, minimumBytes: 0)] {
            func logits(_ input: [Float], batch: Int) throws -> [Float] {
                try FastVimEngineTests.logits(model, input, batch: batch, height: shape[2], width: shape[3], tiling: tiling)
            }
            let batched = try logits(all, batch: batch)
            for i in 0 ..< batch {
                let single = try logits(Array(all[i * per ..< (i + 1) * per]), batch: 1)
                let atol = 1e-5 * max(1, maxAbs(single))
                expectClose(single, Array(batched[i * classes ..< (i + 1) * classes]), atol: atol,
                            "\(name): image \(i) alone vs in batch, tiles \(tiling.map { "of about \($0.target)" } ?? "none")")
            }
        }
    }
}
