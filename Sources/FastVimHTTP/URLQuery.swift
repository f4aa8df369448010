/// An origin-form request target (RFC 9112 §3.2.1) split into a decoded path and query.
public struct RequestTarget: Sendable, Equatable {
    /// Percent-decoded; starts with "/". `+` stays `+`, and `..` segments are kept as sent:
    /// routes compare exact paths, so nothing is resolved against a file system.
    public var path: String
    /// The path's segments, each percent-decoded on its own (empty ones dropped): `%2F`
    /// stays inside its segment, so an encoded slash can never reach another route.
    public var segments: [String]
    /// In order, duplicates kept; names and values form-decoded (`+` is a space).
    public var query: [(name: String, value: String)]

    public init(path: String, query: [(name: String, value: String)] = []) {
        self.path = path
        self.query = query
        segments = path.split(separator: "/").map(String.init)
    }

    /// Accepts origin-form, and absolute-form (`http://host/path`), which RFC 9112 §3.2.2
    /// requires servers to accept: its scheme and authority are dropped. The authority and
    /// asterisk forms are for CONNECT and server-wide OPTIONS, which this server does not offer.
    public init(parsing target: String) throws(HTTP1ParseError) {
        var bytes = Array(target.utf8)
        let lower = target.prefix(8).lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            let afterScheme = lower.hasPrefix("http://") ? 7 : 8
            let authorityEnd = bytes[afterScheme...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.count
            guard authorityEnd > afterScheme else { throw .badRequest("absolute-form request target without a host") }
            bytes = [UInt8(ascii: "/")].filter { _ in authorityEnd == bytes.count || bytes[authorityEnd] == UInt8(ascii: "?") }
                + Array(bytes[authorityEnd...])
        }
        guard bytes.first == UInt8(ascii: "/") else { throw .badRequest("request target is not origin-form") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
            throw .badRequest("invalid character in request target")
        }
        let questionMark = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        path = try Self.decode(bytes[..<questionMark], plusIsSpace: false)
        segments = try bytes[..<questionMark].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
            .map { (segment) throws(HTTP1ParseError) -> String in try Self.decode(segment, plusIsSpace: false) }
        query = []
        guard questionMark < bytes.count else { return }
        for pair in bytes[(questionMark + 1)...].split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            let name = try Self.decode(pair[..<equals], plusIsSpace: true)
            let value = equals < pair.endIndex ? try Self.decode(pair[(equals + 1)...], plusIsSpace: true) : ""
            query.append((name, value))
        }
    }

    /// The first value for `name` (exact, case-sensitive match).
    public func value(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// All values for `name`, in order.
    public func values(_ name: String) -> [String] {
        query.compactMap { $0.name == name ? $0.value : nil }
    }

    public static func == (a: RequestTarget, b: RequestTarget) -> Bool {
        a.path == b.path && a.segments == b.segments && a.query.count == b.query.count
            && zip(a.query, b.query).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// Refuses NUL and invalid UTF-8 after decoding: replacing bad bytes with U+FFFD would let
    /// different targets decode to the same string.
    static func decode(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) throws(HTTP1ParseError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var k = bytes.startIndex
        while k < bytes.endIndex {
            let byte = bytes[k]
            if byte == UInt8(ascii: "%") {
                guard k + 2 < bytes.endIndex,
                      let hi = HTTP1Parser.hexValue(bytes[k + 1]), let lo = HTTP1Parser.hexValue(bytes[k + 2])
                else { throw .badRequest("invalid percent-encoding") }
                out.append(hi << 4 | lo)
                k += 3
            } else {
                out.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                k += 1
            }
        }
        if out.contains(0) { throw .badRequest("NUL in request target") }
        guard let text = String(validating: out, as: UTF8.self) else { throw .badRequest("request target is not UTF-8") }
        return text
    }
}
