/// Bounds-checked little-endian reads over untrusted bytes: every parser of file formats
/// goes through this so a lying length field becomes an error, never an out-of-bounds read.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let what: String

    init(_ bytes: UnsafeRawBufferPointer, what: String) {
        self.bytes = bytes
        self.what = what
    }

    var count: Int { bytes.count }

    func check(_ offset: Int, _ length: Int) throws(CheckpointError) {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw .truncated("\(what): \(length) bytes at offset \(offset) run past the end (\(bytes.count) bytes)")
        }
    }

    func u8(_ offset: Int) throws(CheckpointError) -> UInt8 {
        try check(offset, 1)
        return bytes[offset]
    }

    func u16(_ offset: Int) throws(CheckpointError) -> UInt16 {
        try check(offset, 2)
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    func u32(_ offset: Int) throws(CheckpointError) -> UInt32 {
        try check(offset, 4)
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func u64(_ offset: Int) throws(CheckpointError) -> UInt64 {
        try check(offset, 8)
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// `u64` narrowed to Int, rejecting values no file on this machine could hold.
    func int64(_ offset: Int) throws(CheckpointError) -> Int {
        let v = try u64(offset)
        guard v <= UInt64(Int.max / 2) else { throw .corrupt("\(what): size field \(v) at offset \(offset) is absurd") }
        return Int(v)
    }

    func slice(_ offset: Int, _ length: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        try check(offset, length)
        return UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length])
    }

    func string(_ offset: Int, _ length: Int) throws(CheckpointError) -> String {
        String(decoding: try slice(offset, length), as: UTF8.self)
    }
}
