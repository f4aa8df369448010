import Foundation
import Testing

/// The golden fixtures: the reference implementations' outputs, kept in the repository under
/// `Tests/Fixtures` (see its README); `$FASTVIM_FIXTURES` points the tests elsewhere.
public enum Fixtures {
    /// The repository checkout these tests belong to.
    public static let repository: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    public static let directory: String = {
        if let env = ProcessInfo.processInfo.environment["FASTVIM_FIXTURES"], !env.isEmpty { return env }
        return repository + "/Tests/Fixtures"
    }()

    /// A fixture that is missing or unreadable: names the file and where fixtures come from.
    public struct Missing: Error, CustomStringConvertible {
        public let name: String
        public let path: String
        public var description: String {
            "golden fixture '\(name)' is missing or unreadable at \(path). The fixtures are the reference "
                + "implementations' outputs, kept in the repository under Tests/Fixtures (what each file is and how it "
                + "was made: Tests/Fixtures/README.md); restore it with `git checkout -- Tests/Fixtures`, or set "
                + "FASTVIM_FIXTURES to a directory that holds them (now: \(directory))"
        }
    }

    /// The path of a fixture that exists and is readable, else `Missing`.
    public static func path(_ name: String) throws -> String {
        let p = directory + "/" + name
        guard FileManager.default.isReadableFile(atPath: p) else { throw Missing(name: name, path: p) }
        return p
    }

    /// A fixture's bytes, else `Missing`.
    public static func data(_ name: String) throws -> Data {
        let p = try path(name)
        guard let data = FileManager.default.contents(atPath: p) else { throw Missing(name: name, path: p) }
        return data
    }

    /// A fixture JSON file's top-level object, else `Missing` or a parse failure naming the file.
    public static func jsonObject(_ name: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: try data(name))
        guard let dictionary = object as? [String: Any] else { throw Missing(name: name + " (not a JSON object)", path: directory + "/" + name) }
        return dictionary
    }

    /// The fixture images, as the reference preprocessing lists them (`images_preprocessed.safetensors`
    /// names each `image.<file>`), so a deleted image fails its test instead of vanishing from the list.
    public static func imageNames() throws -> [String] {
        let data = try data("images_preprocessed.safetensors")
        guard data.count >= 8 else { throw Missing(name: "images_preprocessed.safetensors (truncated)", path: directory) }
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard n > 0, n <= data.count - 8,
              let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any]
        else { throw Missing(name: "images_preprocessed.safetensors (bad header)", path: directory) }
        return header.keys.filter { $0.hasPrefix("image.") }.map { String($0.dropFirst("image.".count)) }.sorted()
    }

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
            let json = try jsonObject("expected_\(letter).json")
            for (name, value) in json.sorted(by: { $0.key < $1.key }) {
                let v = try #require(value as? [String: Any], "expected_\(letter).json: \(name) is not an object")
                let logits = try #require(v["logits"] as? [[Double]], "expected_\(letter).json: \(name) has no logits").map { $0.map(Float.init) }
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
