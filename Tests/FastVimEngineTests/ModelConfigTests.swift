@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

@Suite struct ModelConfigTests {
    static func config(_ json: String) throws -> ModelConfig { try ModelConfig(json: Data(json.utf8)) }

    @Test func parsesEveryKey() throws {
        let c = try Self.config(#"{"name": "m", "image_size": [64, 96], "stride": 8, "collapse": "max", "scaling_factor": 0.25, "labels": ["a", "b"], "preprocessing": {"resize": 72}}"#)
        #expect(c.imageSize == [64, 96] && c.stride == 8 && c.collapse == .max && c.scalingFactor == 0.25)
        #expect(c.labels == ["a", "b"] && c.name == "m" && c.preprocessingJSON != nil)
        #expect(try Self.config(#"{"image_size": 224}"#).imageSize == [224, 224])
        // Integral JSON numbers (which Linux's JSONSerialization also casts to Bool) are numbers.
        #expect(try Self.config(#"{"scaling_factor": 1}"#).scalingFactor == 1)
    }

    @Test func rejectsUnknownKeysAndBadValues() {
        #expect { try Self.config(#"{"strid": 8}"#) } throws: { "\($0)".contains("unknown key \"strid\"") }
        #expect(throws: CheckpointError.self) { try Self.config(#"{"collapse": "median"}"#) }
        #expect(throws: CheckpointError.self) { try Self.config(#"{"image_size": [1, 2, 3]}"#) }
        #expect(throws: CheckpointError.self) { try Self.config(#"{"scaling_factor": -1}"#) }
        #expect(throws: CheckpointError.self) { try Self.config("[1]") }
    }

    @Test func labelsFileIsReadBesideTheConfig() throws {
        let dir = temporaryPath("labels-dir")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "cat\ndog\n".write(toFile: dir + "/labels.txt", atomically: true, encoding: .utf8)
        try #"{"labels_file": "labels.txt"}"#.write(toFile: dir + "/m.json", atomically: true, encoding: .utf8)
        #expect(try ModelConfig(contentsOf: dir + "/m.json").labels == ["cat", "dog"])
    }

    /// fastvim_small was trained on a 4x6 grid: not square, so other input sizes need image_size.
    @Test func nonSquareTrainedGridNeedsImageSizeForOtherInputs() throws {
        let plain = try VisionMamba(path: Fixtures.path("fastvim_small.ckpt"))
        _ = try plain.makeWorkspace(batch: 1, height: 64, width: 96)
        #expect { try plain.makeWorkspace(batch: 1, height: 96, width: 96) } throws: { "\($0)".contains("image_size") }

        var config = ModelConfig()
        config.imageSize = [64, 96]
        let configured = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path("fastvim_small.ckpt")), config: config)
        let logits = try configured.logits(input: [Float](repeating: 0.1, count: 3 * 96 * 128), batch: 1, height: 96, width: 128)
        #expect(logits.count == 10 && logits.allSatisfy(\.isFinite))

        config.imageSize = [96, 96]
        #expect { try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path("fastvim_small.ckpt")), config: config) } throws: {
            "\($0)".contains("pos_embed has 24 rows")
        }
    }

    /// A square trained grid is assumed when the input grid differs; inputs not a multiple of the patch are padded.
    @Test func squareGridResizesAndPads() throws {
        let model = try VisionMamba(path: Fixtures.path("fastvim_t.pth"))
        let ws = try model.makeWorkspace(batch: 1, height: 250, width: 200)
        #expect(ws.grid == Grid(rows: 16, cols: 13))
        #expect(try model.architecture.trainedGrid(for: ws.grid) == Grid(rows: 14, cols: 14))
    }
}
