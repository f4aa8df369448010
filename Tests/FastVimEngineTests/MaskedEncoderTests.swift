import FastVimEngine
import Foundation
import Testing
import TestSupport

/// FastMaskVim's masked encoder against the reference latent (expected_d.json).
@Suite struct MaskedEncoderTests {
    @Test func latentMatchesReference() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("expected_d.json")))
        let spec = try #require((try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])?["fastmaskvim_small"])
        let inputs = try SafeTensorsFile(path: Fixtures.path("inputs_d.safetensors"))
        let inputName = try #require(spec["input"] as? String), idsName = try #require(spec["ids_keep"] as? String)
        let expectedName = try #require(spec["expected"] as? String)
        let shape = try #require(inputs.shape(inputName), "no tensor \(inputName) in the inputs fixture")
        try #require(shape.count == 4, "input \(inputName) has shape \(shape), not (B, C, H, W)")
        let model = try VisionMamba(path: Fixtures.path(try #require(spec["checkpoint"] as? String)))
        let ids = try inputs.integers(idsName)
        let latent = try model.encodeMasked(input: try inputs.floats(inputName), batch: shape[0], height: shape[2],
                                            width: shape[3], idsKeep: ids)
        let expected = try inputs.floats(expectedName)
        #expect(latent.count == expected.count && expected.count == 2 * 9 * 64)
        // Every element within 1e-4 relative (absolute near zero).
        var worst: Float = 0
        for (o, e) in zip(latent, expected) { worst = max(worst, abs(o - e) / max(abs(e), 1)) }
        #expect(worst <= 1e-4, "max relative difference \(worst)")
        expectClose(latent, expected, atol: 1e-4 * max(1, maxAbs(expected)), "latent")
    }

    @Test func badMasksAreRefused() throws {
        let model = try VisionMamba(path: Fixtures.path("fastmaskvim_small.ckpt"))
        let x = [Float](repeating: 0, count: 3 * 96 * 96)
        #expect(throws: CheckpointError.self) { try model.encodeMasked(input: x, batch: 1, height: 96, width: 96, idsKeep: [3, 2]) }
        #expect(throws: CheckpointError.self) { try model.encodeMasked(input: x, batch: 1, height: 96, width: 96, idsKeep: [0, 36]) }
        #expect(throws: CheckpointError.self) { try model.encodeMasked(input: x, batch: 1, height: 96, width: 96, idsKeep: []) }
        // Keeping every token is the unmasked encoder's job, but the masked path must still run it.
        let all = try model.encodeMasked(input: x, batch: 1, height: 96, width: 96, idsKeep: Array(0 ..< 36))
        #expect(all.count == 36 * 64 && all.allSatisfy { $0.isFinite })
    }
}
