@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

/// Key checking, weight selection and the safetensors path, on fastvim_small's real weights.
@Suite struct StateDictTests {
    static func tensors(_ checkpoint: String) throws -> [(String, [Int], [Float])] {
        let c = try Checkpoint(path: Fixtures.path(checkpoint))
        return try c.tensors.keys.sorted().map { key in
            let t = c.tensors[key]!
            return (key, t.shape, Array(try c.float32(key, shape: t.shape)))
        }
    }

    static let input: [Float] = (0 ..< 3 * 64 * 96).map { Float(sin(Double($0) * 0.37)) }

    static func logits(_ path: String) throws -> [Float] {
        try VisionMamba(path: path).logits(input: input, batch: 1, height: 64, width: 96)
    }

    @Test func safetensorsGivesTheSameLogitsAsTheTorchFile() throws {
        let expected = try Self.logits(Fixtures.path("fastvim_small.ckpt"))
        let path = temporaryPath("small.safetensors")
        write(TestSafeTensors.make(try Self.tensors("fastvim_small.ckpt")), to: path)
        #expect(try Self.logits(path) == expected)
    }

    @Test(arguments: [TestSafeTensors.DType.f16, .bf16])
    func halfPrecisionWeightsAreConverted(_ dtype: TestSafeTensors.DType) throws {
        let expected = try Self.logits(Fixtures.path("fastvim_small.ckpt"))
        let path = temporaryPath("small-\(dtype.rawValue).safetensors")
        write(TestSafeTensors.make(try Self.tensors("fastvim_small.ckpt"), dtype: dtype), to: path)
        // Rounding the weights to 11 (f16) or 8 (bf16) bits moves logits by a few percent at most.
        expectClose(try Self.logits(path), expected, atol: 0.05 * max(1, maxAbs(expected)), "\(dtype) weights")
    }

    @Test func missingKeyIsNamed() throws {
        let path = temporaryPath("missing.safetensors")
        write(TestSafeTensors.make(try Self.tensors("fastvim_small.ckpt").filter { $0.0 != "layers.2.mixer.D_b" }), to: path)
        #expect(throws: CheckpointError.missingKey("layers.2.mixer.D_b")) { try VisionMamba(path: path) }
    }

    @Test func misShapedKeyNamesBothShapes() throws {
        let path = temporaryPath("misshaped.safetensors")
        let t = try Self.tensors("fastvim_small.ckpt").map { entry in
            entry.0 == "layers.1.mixer.dt_proj.weight" ? (entry.0, [entry.1[1], entry.1[0]], entry.2) : entry
        }
        write(TestSafeTensors.make(t), to: path)
        #expect(throws: CheckpointError.shapeMismatch(key: "layers.1.mixer.dt_proj.weight", expected: [128, 4], actual: [4, 128])) {
            try VisionMamba(path: path)
        }
    }

    @Test func unexpectedKeyIsNamed() throws {
        let path = temporaryPath("unexpected.safetensors")
        write(TestSafeTensors.make(try Self.tensors("fastvim_small.ckpt") + [("decoder.mask_token", [1, 1, 64], [Float](repeating: 0, count: 64))]), to: path)
        #expect(throws: CheckpointError.unexpectedKeys(["decoder.mask_token"])) { try VisionMamba(path: path) }
    }

    @Test func lightningSelectsEMAByDefaultAndRawOnRequest() throws {
        let path = try Fixtures.path("fastvim_small.ckpt")
        let ema = try Checkpoint(path: path)
        let raw = try Checkpoint(path: path, weights: .raw)
        #expect(ema.source == "state_dict_ema")
        #expect(raw.source == "state_dict (backbone.*)")
        #expect(Set(ema.tensors.keys) == Set(raw.tensors.keys))
        let a = try VisionMamba(checkpoint: ema).logits(input: Self.input, batch: 1, height: 64, width: 96)
        let b = try VisionMamba(checkpoint: raw).logits(input: Self.input, batch: 1, height: 64, width: 96)
        #expect(a != b, "raw and EMA weights should differ in this fixture")
    }

    @Test func deitStyleUsesModelAndModelEMAOnRequest() throws {
        let path = try Fixtures.path("vim_small.pth")
        #expect(try Checkpoint(path: path).source == "model")
        #expect(try Checkpoint(path: path, weights: .ema).source == "model_ema")
        #expect(throws: CheckpointError.self) { try Checkpoint(path: Fixtures.path("fastvim_t.pth"), weights: .ema) }
    }

    @Test func encoderWithoutHeadLoadsButHasNoLogits() throws {
        let model = try VisionMamba(path: Fixtures.path("fastmaskvim_small.ckpt"))
        #expect(model.architecture.numClasses == 0)
        #expect(model.checkpoint.source == "state_dict (backbone.*)")
        #expect(throws: CheckpointError.self) { try model.logits(input: [Float](repeating: 0, count: 3 * 96 * 96), batch: 1, height: 96, width: 96) }
    }
}
