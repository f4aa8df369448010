import CZlib
import Foundation

/// HTTP content codings through zlib: request bodies sent with `Content-Encoding: gzip` or
/// `deflate` (tritonclient's request compression), and answers compressed for clients whose
/// `Accept-Encoding` asks for it. Inflating is bounded: a small body that expands past the
/// body limit is refused, never inflated to the end.
enum ContentCoding: String {
    case gzip, deflate

    /// The coding a `Content-Encoding` header names; nil for none or `identity`.
    static func of(_ header: String?) throws(ServingError) -> ContentCoding? {
        guard let value = header?.trimmingCharacters(in: .whitespaces).lowercased(), !value.isEmpty, value != "identity" else { return nil }
        guard let coding = ContentCoding(rawValue: value == "x-gzip" ? "gzip" : value) else {
            throw .unsupportedMediaType("Content-Encoding \(value) is not supported: send gzip, deflate or identity")
        }
        return coding
    }

    /// The first coding of `Accept-Encoding` we can produce (with a non-zero q).
    static func accepted(_ header: String?) -> ContentCoding? {
        guard let header else { return nil }
        for item in header.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let name = parts.first, let coding = ContentCoding(rawValue: name) else { continue }
            if parts.dropFirst().contains(where: { $0 == "q=0" || $0 == "q=0.0" || $0 == "q=0.00" || $0 == "q=0.000" }) { continue }
            return coding
        }
        return nil
    }

    /// Inflates `body`; more than `limit` bytes out is a 413.
    func decode(_ body: [UInt8], limit: Int) throws(ServingError) -> [UInt8] {
        // gzip: a gzip header; deflate: the zlib format RFC 9110 names, or raw deflate, which
        // some clients send under the same name.
        let attempts: [Int32] = self == .gzip ? [16 + 15] : [15, -15]
        var lastError = "not \(rawValue) data"
        for windowBits in attempts {
            switch Self.inflate(body, windowBits: windowBits, limit: limit) {
            case let .success(bytes): return bytes
            case let .failure(e):
                if case .tooLarge = e { throw e }
                lastError = e.message
            }
        }
        throw .badRequest("the \(rawValue) request body cannot be inflated: \(lastError)")
    }

    private static func inflate(_ body: [UInt8], windowBits: Int32, limit: Int) -> Result<[UInt8], ServingError> {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .failure(.internalError("zlib inflateInit2 failed"))
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        return body.withUnsafeBufferPointer { input -> Result<[UInt8], ServingError> in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard out.count + produced <= limit else {
                    return .failure(.tooLarge("the request body inflates past \(limit) bytes (--max-body-bytes)"))
                }
                out += chunk[0 ..< produced]
                if status == Z_STREAM_END {
                    return stream.avail_in == 0 ? .success(out) : .failure(.badRequest("bytes after the end of the compressed body"))
                }
                guard status == Z_OK else {
                    return .failure(.badRequest(stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"))
                }
                if produced == 0 && stream.avail_in == 0 { return .failure(.badRequest("the compressed body is truncated")) }
            }
        }
    }

    /// Compresses an answer (level 6, zlib's default balance of size and time).
    func encode(_ body: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        let windowBits: Int32 = self == .gzip ? 16 + 15 : 15
        guard deflateInit2_(&stream, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                            Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(body.count))))
        let ok = body.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output -> Bool in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = output.baseAddress
                stream.avail_out = UInt32(output.count)
                return CZlib.deflate(&stream, Z_FINISH) == Z_STREAM_END
            }
        }
        guard ok else { return nil }
        out.removeLast(Int(stream.avail_out))
        return out
    }
}
