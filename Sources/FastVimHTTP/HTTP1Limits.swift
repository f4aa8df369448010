/// Bounds on what one request may make the server buffer; exceeding any is an error, never
/// a silent truncation.
public struct HTTP1Limits: Sendable, Equatable {
    /// Bytes of the request line, excluding its line ending (414 beyond).
    public var maxRequestLine: Int
    /// Bytes of the header section including line endings (431 beyond); trailers get the same budget.
    public var maxHeaderBytes: Int
    /// Header fields (431 beyond); trailers get the same budget.
    public var maxHeaders: Int
    /// Body bytes after removing chunked framing (413 beyond).
    public var maxBody: Int

    public init(maxRequestLine: Int = 8192, maxHeaderBytes: Int = 65536, maxHeaders: Int = 100, maxBody: Int = 16 << 20) {
        self.maxRequestLine = maxRequestLine
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaders = maxHeaders
        self.maxBody = maxBody
    }
}
