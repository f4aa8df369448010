import Foundation

/// Where the golden data lives: $FASTVIM_FIXTURES, else ../shared/fixtures next to the repo.
enum Fixtures {
    static var root: URL {
        if let env = ProcessInfo.processInfo.environment["FASTVIM_FIXTURES"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        // #filePath = <repo>/Tests/FastVimImagesTests/Fixtures.swift
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    static var images: URL { root.appendingPathComponent("images") }

    static var imageNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: images.path)) ?? []
        return names.filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
    }

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    /// This target's small generated images (tools/make_image_test_fixtures.py).
    static var resources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources")
    }
}

/// Minimal safetensors reader for the tests (F32 only): 8-byte little-endian header length,
/// JSON header, then the data.
struct SafeTensorsFile {
    struct Entry { let shape: [Int]; let range: Range<Int> }
    let data: Data
    let entries: [String: Entry]
    let dataStart: Int

    init(_ url: URL) throws {
        data = try Data(contentsOf: url)
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any] ?? [:]
        var entries: [String: Entry] = [:]
        for (name, value) in json {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String, dtype == "F32",
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int] else { continue }
            entries[name] = Entry(shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
        dataStart = 8 + n
    }

    func floats(_ name: String) -> (shape: [Int], values: [Float])? {
        guard let e = entries[name] else { return nil }
        let bytes = data.subdata(in: (dataStart + e.range.lowerBound)..<(dataStart + e.range.upperBound))
        let values = bytes.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
        }
        return (e.shape, values)
    }
}
