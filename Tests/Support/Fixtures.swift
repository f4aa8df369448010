import Foundation
import Testing

/// Where the golden fixtures live: `$FASTVIM_FIXTURES`, else `../shared/fixtures` beside the checkout.
public enum Fixtures {
    public static let directory: String = {
        if let env = ProcessInfo.processInfo.environment["FASTVIM_FIXTURES"] { return env }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/fixtures").path
    }()

    public static func path(_ name: String) -> String { directory + "/" + name }

    /// The repository checkout these tests belong to.
    public static let repository: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    public struct Expected: Sendable {
        public let name: String
        public let checkpoint: String
        public let input: String
        public let imageSize: [Int]
        public let logits: [[Float]]
        public let inputsFile: String
    }

    /// Every fixture of expected_a.json and expected_b.json.
    public static func expected() throws -> [Expected] {
        var out: [Expected] = []
        for letter in ["a", "b"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path("expected_\(letter).json")))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
            for (name, v) in json.sorted(by: { $0.key < $1.key }) {
                let logits = try #require(v["logits"] as? [[Double]]).map { $0.map(Float.init) }
                out.append(Expected(name: name, checkpoint: try #require(v["checkpoint"] as? String),
                                    input: try #require(v["input"] as? String),
                                    imageSize: try #require(v["image_size"] as? [Int]), logits: logits,
                                    inputsFile: "inputs_\(letter).safetensors"))
            }
        }
        return out
    }
}

/// max |actual - expected| <= atol, reporting the first differing values and the max difference.
public func expectClose(_ actual: [Float], _ expected: [Float], atol: Float, _ label: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(label): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var maxDiff: Float = 0
    var firsts: [String] = []
    for i in 0 ..< actual.count {
        let d = abs(actual[i] - expected[i])
        if !(d <= atol) {
            if firsts.count < 5 { firsts.append("[\(i)] ours \(actual[i]) expected \(expected[i])") }
        }
        if d > maxDiff || d.isNaN { maxDiff = d }
    }
    if !firsts.isEmpty {
        Issue.record("\(label): max |diff| \(maxDiff) > atol \(atol); first differences: \(firsts.joined(separator: "; "))",
                     sourceLocation: sourceLocation)
    }
}

public func maxAbs(_ v: [Float]) -> Float { v.reduce(0) { max($0, abs($1)) } }

public func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fastvim-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}
