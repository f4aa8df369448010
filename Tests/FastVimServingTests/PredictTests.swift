import FastVimServing
import Foundation
import Testing
import TestSupport

/// Real photographs through decode, Pillow-exact preprocessing and FastVim-T, against the
/// reference pipeline's logits.
@Suite struct PredictTests {
    struct ImageCase: Sendable, CustomStringConvertible {
        let file: String
        let logits: [Float]
        let top5: [Int]
        var description: String { file }
    }

    static let cases: [ImageCase] = {
        guard let json = try? Fixtures.jsonObject("expected_images.json") as? [String: [String: Any]] else { return [] }
        return json.keys.sorted().compactMap { file in
            guard let logits = json[file]?["logits"] as? [Double], let top5 = json[file]?["top5"] as? [Int] else { return nil }
            return ImageCase(file: file, logits: logits.map(Float.init), top5: top5)
        }
    }()

    @Test func everyFixtureImageHasAnExpectation() throws {
        _ = try Fixtures.jsonObject("expected_images.json")
        #expect(Self.cases.count >= 10)
    }

    @Test func classifierMatchesReferenceLogits() throws {
        let bundle = try ModelBundle(checkpoint: Fixtures.path("fastvim_t.pth"))
        let classifier = Classifier(bundle: bundle, maxBatch: 4)
        var index = 0
        while index < Self.cases.count {
            let chunk = Array(Self.cases[index ..< min(index + 4, Self.cases.count)])
            for (slot, c) in chunk.enumerated() {
                let bytes = try Fixtures.data("images/" + c.file)
                try classifier.load(Array(bytes), slot: slot)
            }
            let out = Array(try classifier.run(count: chunk.count))
            for (slot, c) in chunk.enumerated() {
                let row = Array(out[slot * 1000 ..< (slot + 1) * 1000])
                expectClose(row, c.logits, atol: 1e-3, "\(c.file) logits")
                let top = Ranking.topK(row[...], k: 5, labels: nil).map(\.index)
                #expect(top == c.top5, "\(c.file) top-5")
            }
            index += 4
        }
    }

    @Test func softmaxAndTopK() {
        let logits: [Float] = [1, 3, 2, 3, -1000, 5]
        let top = Ranking.topK(logits[...], k: 3, labels: ["a", "b", "c", "d", "e", "f"])
        #expect(top.map(\.index) == [5, 1, 3])
        #expect(top[0].label == "f" && top[1].probability == top[2].probability)
        #expect(abs(Ranking.softmax(logits[...]).reduce(0, +) - 1) < 1e-12)
        #expect(Ranking.softmax([-1e30, 1e30][...]) == [0, 1])
        let p = Ranking.softmax([0, 0][...])
        #expect(p == [0.5, 0.5])
    }
}
