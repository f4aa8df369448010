import CZlib

/// The zip container `torch.save` writes. Hand-written rather than ZIPFoundation because
/// the engine needs each stored entry as a pointer into the memory map (no extraction, no
/// copy); torch only ever writes stored (uncompressed) entries, so that is all we accept.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let reader: ByteReader
    private(set) var entries: [String: Entry] = [:]
    private(set) var names: [String] = []

    static let localSignature: UInt32 = 0x0403_4b50

    static func looksLikeZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: localSignature)
    }

    init(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        reader = ByteReader(bytes, what: "zip container of \(path)")
        let eocd = try Self.findEndOfCentralDirectory(reader)
        var count = Int(try reader.u16(eocd + 10))
        var cdSize = Int(try reader.u32(eocd + 12))
        var cdOffset = Int(try reader.u32(eocd + 16))
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // Zip64: the real numbers live in the zip64 end record that the locator points at.
            let locator = eocd - 20
            guard locator >= 0, try reader.u32(locator) == 0x0706_4b50 else {
                throw .corrupt("zip64 end-of-central-directory locator missing")
            }
            let z64 = try reader.int64(locator + 8)
            guard try reader.u32(z64) == 0x0606_4b50 else { throw .corrupt("zip64 end-of-central-directory record missing") }
            count = try reader.int64(z64 + 32)
            cdSize = try reader.int64(z64 + 40)
            cdOffset = try reader.int64(z64 + 48)
        }
        try reader.check(cdOffset, cdSize)
        var pos = cdOffset
        for _ in 0 ..< count {
            guard try reader.u32(pos) == 0x0201_4b50 else { throw .corrupt("bad central directory entry at offset \(pos)") }
            let method = try reader.u16(pos + 10)
            let crc = try reader.u32(pos + 16)
            var csize = Int(try reader.u32(pos + 20))
            var usize = Int(try reader.u32(pos + 24))
            let nameLen = Int(try reader.u16(pos + 28))
            let extraLen = Int(try reader.u16(pos + 30))
            let commentLen = Int(try reader.u16(pos + 32))
            var local = Int(try reader.u32(pos + 42))
            let name = try reader.string(pos + 46, nameLen)
            // Zip64 extra field: 64-bit sizes and offset, present only for the fields set to all ones.
            var extra = pos + 46 + nameLen
            let extraEnd = extra + extraLen
            while extra + 4 <= extraEnd {
                let id = try reader.u16(extra), len = Int(try reader.u16(extra + 2))
                if id == 0x0001 {
                    var field = extra + 4
                    if usize == 0xFFFF_FFFF { usize = try reader.int64(field); field += 8 }
                    if csize == 0xFFFF_FFFF { csize = try reader.int64(field); field += 8 }
                    if local == 0xFFFF_FFFF { local = try reader.int64(field) }
                }
                extra += 4 + len
            }
            let entry = Entry(name: name, method: method, crc32: crc, compressedSize: csize, size: usize,
                              localHeaderOffset: local)
            entries[name] = entry
            names.append(name)
            pos = extraEnd + commentLen
        }
    }

    private static func findEndOfCentralDirectory(_ reader: ByteReader) throws(CheckpointError) -> Int {
        let minimum = 22
        guard reader.count >= minimum else { throw .truncated("file too short for a zip container") }
        let lowest = max(0, reader.count - minimum - 0xFFFF)
        var pos = reader.count - minimum
        while pos >= lowest {
            if try reader.u32(pos) == 0x0605_4b50 { return pos }
            pos -= 1
        }
        throw .truncated("zip end-of-central-directory record not found (file cut short?)")
    }

    /// The bytes of a stored entry, checked against its CRC-32 so a flipped bit in the
    /// weights is an error at load time rather than silently wrong predictions.
    func data(_ name: String, verify: Bool = true) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard let entry = entries[name] else { throw .corrupt("zip entry \(name) is missing") }
        guard entry.method == 0 else {
            throw .corrupt("zip entry \(name) is compressed (method \(entry.method)); torch.save writes stored entries only")
        }
        guard entry.compressedSize == entry.size else { throw .corrupt("zip entry \(name): stored sizes disagree") }
        let local = entry.localHeaderOffset
        guard try reader.u32(local) == Self.localSignature else { throw .corrupt("zip entry \(name): bad local header") }
        let start = local + 30 + Int(try reader.u16(local + 26)) + Int(try reader.u16(local + 28))
        let bytes = try reader.slice(start, entry.size)
        if verify {
            let crc = Self.crc32(bytes)
            guard crc == entry.crc32 else {
                throw .corrupt("zip entry \(name) fails its CRC-32 check (file damaged)")
            }
        }
        return bytes
    }

    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = CZlib.crc32(0, nil, 0)
        var offset = 0
        // zlib's length argument is 32-bit: feed it in chunks.
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
