import FastVimServing
import Foundation
import Testing
import TestSupport

/// The bundled model (models/fastvim-digits): real, trained, and this engine agrees with
/// the PyTorch that trained it.
@Suite struct DefaultModelTests {
    static let dir = Fixtures.repository + "/models/fastvim-digits"

    static func bundle() throws -> ModelBundle {
        try ModelBundle(checkpoint: dir + "/fastvim_digits.pth")
    }

    @Test func heldOutAccuracyMatchesPyTorch() throws {
        let result = try Evaluation(directory: Self.dir + "/heldout").run(Classifier(bundle: try Self.bundle(), maxBatch: 32))
        #expect(result.images == 360 && result.refused == 0)
        #expect(result.top1 >= 0.97, "top-1 \(result.top1)")
        let log = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.repository + "/tools/train/logs/eval_heldout.json"))) as? [String: Any])
        let torchTop1 = try #require(log["top1"] as? Double)
        #expect(abs(result.top1 - torchTop1) <= 0.005, "engine \(result.top1) vs PyTorch \(torchTop1)")
    }

    @Test func sampleLogitsMatchPyTorch() throws {
        let logits = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.repository + "/tools/train/logs/sample_logits.json"))) as? [String: [Double]])
        #expect(logits.count == 30)
        let classifier = Classifier(bundle: try Self.bundle(), maxBatch: 1)
        for (file, expected) in logits.sorted(by: { $0.key < $1.key }) {
            let bytes = try #require(FileManager.default.contents(atPath: Self.dir + "/samples/" + file))
            try classifier.load(Array(bytes), slot: 0)
            let ours = Array(try classifier.run(count: 1))
            let e = expected.map(Float.init)
            expectClose(ours, e, atol: 1e-4 * max(1, maxAbs(e)), "samples/\(file)")
            let label = String(file.split(separator: "/")[0])
            #expect(Ranking.topK(ours[...], k: 1, labels: classifier.bundle.labels).first?.label == label, "\(file)")
        }
    }

    @Test func checkpointIsSmallAndConfigured() throws {
        let size = try #require(try FileManager.default.attributesOfItem(atPath: Self.dir + "/fastvim_digits.pth")[.size] as? Int)
        #expect(size < 10 << 20)
        let b = try Self.bundle()
        #expect(b.name == "fastvim-digits" && b.labels == (0 ..< 10).map(String.init))
        #expect(b.inputHeight == 32 && b.inputWidth == 32)
    }
}
