import Foundation

/// This target's small generated images (tools/make_image_test_fixtures.py), read by path.
enum ImageResources {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources")
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: directory.appendingPathComponent(name))) }
}

/// Minimal safetensors reader for the tests (F32 only): 8-byte little-endian header length,
/// JSON header, then the data. Every offset is checked: a damaged file is an error naming it.
struct SafeTensorsFile {
    struct Damaged: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "\(path) is not a readable safetensors file: \(reason)" }
    }

    struct Entry { let shape: [Int]; let range: Range<Int> }
    let data: Data
    let entries: [String: Entry]
    let dataStart: Int

    init(path: String) throws {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count >= 8 else { throw Damaged(path: path, reason: "shorter than its 8-byte header length") }
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard n >= 0, n <= data.count - 8,
              let json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any]
        else { throw Damaged(path: path, reason: "header length \(n) or header JSON is wrong") }
        dataStart = 8 + n
        var entries: [String: Entry] = [:]
        for (name, value) in json {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String, dtype == "F32",
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  0 <= offsets[0], offsets[0] <= offsets[1], offsets[1] <= data.count - dataStart else { continue }
            entries[name] = Entry(shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
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
