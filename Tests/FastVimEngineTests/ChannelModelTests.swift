import FastVimEngine
import Foundation
import Testing
import TestSupport

/// FastChannelVim and ChannelVim (8-channel microscopy) against the reference logits.
@Suite struct ChannelModelTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let checkpoint: String
        let input: String
        let collapse: String
        let scanOrder: String
        let logits: [Float]
        var description: String { name }
    }

    static let cases: [Case] = {
        guard let json = try? Fixtures.jsonObject("expected_c.json") as? [String: [String: Any]] else { return [] }
        return json.keys.sorted().compactMap { name in
            guard let v = json[name], let ck = v["checkpoint"] as? String, let input = v["input"] as? String,
                  let logits = v["logits"] as? [[Double]] else { return nil }
            return Case(name: name, checkpoint: ck, input: input, collapse: v["collapse"] as? String ?? "mean",
                        scanOrder: v["scan_order"] as? String ?? "Channel-First", logits: logits.flatMap { $0.map(Float.init) })
        }
    }()

    @Test func fixturesArePresent() throws {
        _ = try Fixtures.jsonObject("expected_c.json")
        #expect(Self.cases.count >= 3)
    }

    @Test(arguments: cases)
    func matchesReference(_ c: Case) throws {
        let config = try ModelConfig(json: Data("{\"collapse\": \"\(c.collapse)\", \"scan_order\": \"\(c.scanOrder)\"}".utf8))
        let model = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path(c.checkpoint)), config: config)
        #expect(model.architecture.perChannelTokens && model.architecture.inChannels == 8)
        #expect(model.architecture.family == (c.name.hasPrefix("fast") ? .fastChannelVim : .channelVim))
        let inputs = try SafeTensorsFile(path: Fixtures.path("inputs_c.safetensors"))
        let shape = try #require(inputs.shape(c.input), "no tensor \(c.input) in the inputs fixture")
        try #require(shape.count == 4, "input \(c.input) has shape \(shape), not (B, C, H, W)")
        let logits = try model.logits(input: try inputs.floats(c.input), batch: shape[0], height: shape[2], width: shape[3])
        expectClose(logits, c.logits, atol: 1e-4 * max(1, maxAbs(c.logits)), "\(c.name) logits")
        // Tiled mixers: a tile of one pooled run (its channels interleaved) or a few tokens.
        for target in [1, 9, 40] {
            let tiled = try FastVimEngineTests.logits(model, try inputs.floats(c.input), batch: shape[0], height: shape[2], width: shape[3],
                                   tiling: TokenTiling(target: target, minimumBytes: 0))
            expectClose(tiled, c.logits, atol: 1e-4 * max(1, maxAbs(c.logits)), "\(c.name) logits, tiles of about \(target)")
        }
    }

    /// Spatial-First orders tokens (channel, row, col): a different model from Channel-First
    /// on the same weights, still finite, and consistent between one image and a batch.
    @Test func spatialFirstRuns() throws {
        let config = try ModelConfig(json: Data(#"{"scan_order": "Spatial-First"}"#.utf8))
        let model = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path("fastchannelvim_small.ckpt")), config: config)
        let inputs = try SafeTensorsFile(path: Fixtures.path("inputs_c.safetensors"))
        let x = try inputs.floats("fastchannelvim_small.input")
        let both = try model.logits(input: x, batch: 2, height: 64, width: 64)
        let first = try model.logits(input: Array(x[0 ..< 8 * 64 * 64]), batch: 1, height: 64, width: 64)
        #expect(both.allSatisfy { $0.isFinite })
        expectClose(first, Array(both[0 ..< 16]), atol: 1e-5, "Spatial-First image 0 alone vs in batch")
        for target in [1, 16] {
            let tiled = try logits(model, x, batch: 2, height: 64, width: 64, tiling: TokenTiling(target: target, minimumBytes: 0))
            expectClose(tiled, both, atol: 1e-5, "Spatial-First tiles of about \(target) vs untiled")
        }
        let channelFirst = try #require(Self.cases.first { $0.name == "fastchannelvim_small" })
        #expect(zip(both, channelFirst.logits).contains { abs($0 - $1) > 1e-3 })
    }
}
