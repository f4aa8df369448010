import Foundation

/// Writers for hand-made test files: a stored-entry zip (what torch.save writes) and
/// safetensors. Kept minimal; they only need to produce valid files for the reader.
public enum TestZip {
    public static let crcTable: [UInt32] = (0 ..< 256).map { n in
        var c = UInt32(n)
        for _ in 0 ..< 8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    public static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    public static func le32(_ v: UInt32) -> [UInt8] { (0 ..< 4).map { UInt8(v >> (8 * $0) & 0xFF) } }

    public static func make(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        for (name, data) in entries {
            let offset = UInt32(out.count), crc = crc32(data), n = Array(name.utf8)
            out += le32(0x0403_4b50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(crc)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(n.count) + le16(0) + n + data
            central += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0) + le32(crc)
                + le32(UInt32(data.count)) + le32(UInt32(data.count)) + le16(n.count) + le16(0) + le16(0)
                + le16(0) + le16(0) + le32(0) + le32(offset) + n
        }
        let cdOffset = UInt32(out.count)
        out += central
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
            + le32(UInt32(central.count)) + le32(cdOffset) + le16(0)
        return out
    }

    /// A torch.save-style archive holding only a pickle (and optional storages).
    public static func torchFile(pickle: [UInt8], storages: [(String, [UInt8])] = []) -> [UInt8] {
        make([("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
            + storages.map { ("archive/data/\($0.0)", $0.1) })
    }
}

public enum TestSafeTensors {
    public enum DType: String, Sendable { case f32 = "F32", f16 = "F16", bf16 = "BF16" }

    public static func make(_ tensors: [(String, [Int], [Float])], dtype: DType = .f32) -> [UInt8] {
        var header: [String: Any] = [:], data: [UInt8] = []
        for (name, shape, values) in tensors {
            let begin = data.count
            for v in values {
                switch dtype {
                case .f32: withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 }
                case .f16: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { data += $0 }
                case .bf16: withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { data += $0 }
                }
            }
            header[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [begin, data.count]]
        }
        var json = Array(try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        return out + json + data
    }
}

public func write(_ bytes: [UInt8], to path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// Uncompressed ("stored" deflate) grayscale PNGs with exact sample values, for tests that
/// feed channel images.
public enum TestPNG {
    static func be32(_ v: UInt32) -> [UInt8] { (0 ..< 4).reversed().map { UInt8(v >> (8 * UInt32($0)) & 0xFF) } }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(TestZip.crc32(body))
    }

    /// `samples` row-major; 16-bit when `sixteenBit`, else 8-bit (values 0...255).
    public static func gray(width: Int, height: Int, samples: [Int], sixteenBit: Bool) -> [UInt8] {
        var raw: [UInt8] = []
        for y in 0 ..< height {
            raw.append(0) // filter: none
            for x in 0 ..< width {
                let v = samples[y * width + x]
                if sixteenBit { raw += [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] } else { raw.append(UInt8(v & 0xFF)) }
            }
        }
        // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
        var z: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            let final: UInt8 = offset + n >= raw.count ? 1 : 0
            z += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8 & 0xFF)] + raw[offset ..< offset + n]
            offset += n
        } while offset < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        z += be32(b << 16 | a)
        let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [sixteenBit ? 16 : 8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", [])
    }
}
