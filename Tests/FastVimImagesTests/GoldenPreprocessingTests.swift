import Foundation
import Testing
import TestSupport
@testable import FastVimImages

/// Every fixture image against the reference pipeline's tensor (PIL + torchvision).
@Suite struct GoldenPreprocessingTests {
    static let names = (try? Fixtures.imageNames()) ?? []

    @Test func fixturesArePresent() throws {
        #expect(try Fixtures.imageNames().count >= 10, "fixture images missing under \(Fixtures.directory)/images")
    }

    @Test(arguments: names)
    func matchesReference(_ name: String) throws {
        let golden = try SafeTensorsFile(path: Fixtures.path("images_preprocessed.safetensors"))
        let expected = try #require(golden.floats("image.\(name)"), "no tensor image.\(name)")
        #expect(expected.shape == [3, 224, 224])
        #expect(expected.values.contains { $0 != expected.values.first }, "degenerate golden tensor")
        let p = Preprocessing()
        let ours = try ImagePipeline(preprocessing: p).run([UInt8](try Fixtures.data("images/" + name)))
        try #require(ours.count == expected.values.count)

        let plane = 224 * 224
        var differing = 0
        var maxDiff: Float = 0
        var firstDiffs: [String] = []
        var worstLevels: Float = 0
        for c in 0..<3 {
            let tolerance = 1 / 255 / p.std[c] + 1e-6
            for i in 0..<plane {
                let a = ours[c * plane + i], b = expected.values[c * plane + i]
                let d = abs(a - b)
                if d > 0 {
                    differing += 1
                    maxDiff = max(maxDiff, d)
                    worstLevels = max(worstLevels, d * p.std[c] * 255)
                }
                if d > tolerance && firstDiffs.count < 10 {
                    firstDiffs.append("c\(c) y\(i / 224) x\(i % 224): ours \(a) expected \(b)")
                }
            }
        }
        print("[golden] \(name): \(differing) of \(ours.count) values differ, max |diff| \(maxDiff) (\(worstLevels) 8-bit levels)")
        #expect(firstDiffs.isEmpty, "\(name): beyond one 8-bit level: \(firstDiffs.joined(separator: "; "))")
    }
}
