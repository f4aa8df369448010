/// A parsed request line and header section, with the framing and connection decisions
/// already made so the connection layer never re-reads raw headers to decide them.
public struct HTTP1RequestHead: Sendable {
    public var method: String
    /// Raw request-target as sent (not decoded); see `RequestTarget` for path and query.
    public var target: String
    /// 0 or 1.
    public var versionMinor: Int
    /// In arrival order; names lowercased, values trimmed of optional whitespace.
    public var headers: [(name: String, value: String)]
    public var keepAlive: Bool
    /// The client waits for `100 Continue` before sending the body.
    public var expectContinue: Bool
    /// Declared body length; nil when absent or when the body is chunked.
    public var contentLength: Int?
    public var chunked: Bool

    public init(
        method: String, target: String, versionMinor: Int = 1,
        headers: [(name: String, value: String)] = [], keepAlive: Bool = true,
        expectContinue: Bool = false, contentLength: Int? = nil, chunked: Bool = false
    ) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.keepAlive = keepAlive
        self.expectContinue = expectContinue
        self.contentLength = contentLength
        self.chunked = chunked
    }

    /// All values of a field (case-insensitive name), combined with ", " as RFC 9110 §5.3 allows
    /// for list-valued fields; nil when absent.
    public func header(_ name: String) -> String? {
        let values = self.values(name)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// Each line of a field separately, in arrival order (case-insensitive name).
    public func values(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.compactMap { $0.name == wanted ? $0.value : nil }
    }
}
