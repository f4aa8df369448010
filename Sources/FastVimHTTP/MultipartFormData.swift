/// Parses a complete, already-buffered `multipart/form-data` body (RFC 7578, RFC 2046 §5.1).
/// Linear in the body size: each delimiter search resumes where the previous one ended.
public enum MultipartFormData {
    /// The boundary parameter of a `multipart/form-data` Content-Type (quoted or token;
    /// case-insensitive parameter name).
    public static func boundary(contentType: String) throws(MultipartError) -> String {
        let (mediaType, parameters) = try parseHeaderValue(contentType)
        guard mediaType.lowercased() == "multipart/form-data" else { throw .notMultipart }
        guard let boundary = parameters.first(where: { $0.name == "boundary" })?.value else { throw .missingBoundary }
        try validate(boundary: boundary)
        return boundary
    }

    public static func parse(_ body: [UInt8], boundary: String, maxParts: Int = 64) throws(MultipartError) -> [MultipartPart] {
        try validate(boundary: boundary)
        let dashBoundary = Array("--\(boundary)".utf8)
        let delimiter = [cr, lf] + dashBoundary
        let finder = Finder(delimiter)

        // The first delimiter may open the body without the CRLF that belongs to later ones.
        var position: Int
        if body.starts(with: dashBoundary) {
            position = dashBoundary.count
        } else if let found = finder.find(in: body, from: 0) {
            position = found + delimiter.count
        } else {
            throw .malformed("no boundary found")
        }

        var parts: [MultipartPart] = []
        while true {
            if body[position...].starts(with: [dash, dash]) { return parts }
            position = try skipPaddingAndCRLF(body, from: position)
            guard parts.count < maxParts else { throw .tooManyParts }
            var part = MultipartPart()
            position = try parseHeaders(body, from: position, into: &part)
            // A delimiter only counts when followed by "--" or padding and CRLF; RFC 2046 forbids
            // the boundary inside a part, but a lookalike is safer read as data than as an error.
            var searchFrom = position
            while true {
                guard let found = finder.find(in: body, from: searchFrom) else {
                    throw .malformed("missing close delimiter")
                }
                let after = found + delimiter.count
                if body[after...].starts(with: [dash, dash]) || (try? skipPaddingAndCRLF(body, from: after)) != nil {
                    part.body = Array(body[position ..< found])
                    position = after
                    break
                }
                searchFrom = found + 1
            }
            parts.append(part)
        }
    }

    // MARK: - Parts

    private static func skipPaddingAndCRLF(_ body: [UInt8], from start: Int) throws(MultipartError) -> Int {
        var k = start
        while k < body.count, body[k] == sp || body[k] == htab { k += 1 }
        guard k + 1 < body.count, body[k] == cr, body[k + 1] == lf else { throw .malformed("expected CRLF after boundary") }
        return k + 2
    }

    /// Reads header lines up to the empty line and returns where the part's body starts.
    private static func parseHeaders(_ body: [UInt8], from start: Int, into part: inout MultipartPart) throws(MultipartError) -> Int {
        var k = start
        while true {
            guard let lineEnd = firstCRLF(body, from: k) else { throw .malformed("unterminated part headers") }
            if lineEnd == k { return k + 2 }
            let line = body[k ..< lineEnd]
            k = lineEnd + 2
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[..<colon].allSatisfy(HTTP1Parser.isTokenByte)
            else { throw .malformed("invalid part header") }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = Substring(String(decoding: line[(colon + 1)...], as: UTF8.self)).trimmingOWS()
            part.headers.append((name, String(value)))
            switch name {
            case "content-disposition":
                let (disposition, parameters) = try parseHeaderValue(String(value))
                guard disposition.lowercased() == "form-data" else { continue }
                part.name = parameters.first { $0.name == "name" }?.value
                part.filename = parameters.first { $0.name == "filename" }?.value
            case "content-type":
                part.contentType = String(value)
            default:
                break
            }
        }
    }

    private static func firstCRLF(_ body: [UInt8], from start: Int) -> Int? {
        var k = start
        while k + 1 < body.count {
            if body[k] == cr, body[k + 1] == lf { return k }
            k += 1
        }
        return nil
    }

    // MARK: - Header values with parameters

    /// `value *( ";" name "=" ( token / quoted-string ) )`, parameter names lowercased.
    static func parseHeaderValue(_ text: String) throws(MultipartError) -> (value: String, parameters: [(name: String, value: String)]) {
        let s = Array(text.utf8)
        var k = 0
        func skipWhitespace() { while k < s.count, s[k] == sp || s[k] == htab { k += 1 } }
        skipWhitespace()
        let valueStart = k
        while k < s.count, s[k] != UInt8(ascii: ";") { k += 1 }
        let value = Substring(String(decoding: s[valueStart ..< k], as: UTF8.self)).trimmingOWS()
        var parameters: [(name: String, value: String)] = []
        while k < s.count {
            k += 1  // the ";"
            skipWhitespace()
            if k == s.count { break }  // a trailing ";" is harmless
            let nameStart = k
            while k < s.count, HTTP1Parser.isTokenByte(s[k]) { k += 1 }
            guard k > nameStart else { throw .malformed("invalid parameter") }
            let name = String(decoding: s[nameStart ..< k], as: UTF8.self).lowercased()
            skipWhitespace()
            guard k < s.count, s[k] == UInt8(ascii: "=") else { throw .malformed("parameter without value") }
            k += 1
            skipWhitespace()
            var raw: [UInt8] = []
            if k < s.count, s[k] == UInt8(ascii: "\"") {
                k += 1
                var closed = false
                while k < s.count {
                    let byte = s[k]
                    if byte == UInt8(ascii: "\"") {
                        closed = true
                        k += 1
                        break
                    }
                    if byte == UInt8(ascii: "\\") {
                        k += 1
                        guard k < s.count else { break }
                    }
                    raw.append(s[k])
                    k += 1
                }
                guard closed else { throw .malformed("unterminated quoted string") }
            } else {
                // Browsers send unescaped UTF-8 file names, so anything up to ";" is accepted.
                let start = k
                while k < s.count, s[k] != UInt8(ascii: ";"), s[k] != sp, s[k] != htab { k += 1 }
                raw = Array(s[start ..< k])
                guard !raw.isEmpty else { throw .malformed("empty parameter value") }
            }
            skipWhitespace()
            guard k == s.count || s[k] == UInt8(ascii: ";") else { throw .malformed("junk after parameter") }
            parameters.append((name, String(decoding: raw, as: UTF8.self)))
        }
        return (String(value), parameters)
    }

    /// RFC 2046 §5.1.1: 1 to 70 bchars, not ending in a space.
    static func validate(boundary: String) throws(MultipartError) {
        let bytes = Array(boundary.utf8)
        guard !bytes.isEmpty else { throw .missingBoundary }
        guard bytes.count <= 70, bytes.last != sp, bytes.allSatisfy(isBoundaryByte) else { throw .malformed("invalid boundary") }
    }

    private static func isBoundaryByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30 ... 0x39, 0x41 ... 0x5A, 0x61 ... 0x7A: true
        case UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "+"), UInt8(ascii: "_"),
             UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ":"),
             UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: " "): true
        default: false
        }
    }

    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let sp = UInt8(ascii: " ")
    static let htab = UInt8(ascii: "\t")
    static let dash = UInt8(ascii: "-")

    /// Boyer-Moore-Horspool: the delimiter is at most 74 bytes, so even the worst case is a
    /// small constant times the body length, and typical bodies are skipped 74 bytes at a time.
    struct Finder {
        let needle: [UInt8]
        let shift: [Int]

        init(_ needle: [UInt8]) {
            self.needle = needle
            var shift = [Int](repeating: needle.count, count: 256)
            for (k, byte) in needle.enumerated().dropLast() { shift[Int(byte)] = needle.count - 1 - k }
            self.shift = shift
        }

        func find(in haystack: [UInt8], from start: Int) -> Int? {
            let m = needle.count
            guard m > 0, start >= 0, haystack.count - start >= m else { return nil }
            return haystack.withUnsafeBufferPointer { h in
                needle.withUnsafeBufferPointer { n in
                    shift.withUnsafeBufferPointer { table in
                        var k = start
                        let last = h.count - m
                        while k <= last {
                            var j = m - 1
                            while h[k + j] == n[j] {
                                if j == 0 { return k }
                                j -= 1
                            }
                            k += table[Int(h[k + m - 1])]
                        }
                        return nil
                    }
                }
            }
        }
    }
}
