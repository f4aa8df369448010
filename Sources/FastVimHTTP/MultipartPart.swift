/// One field of a `multipart/form-data` body (RFC 7578).
public struct MultipartPart: Sendable {
    /// The `name` parameter of Content-Disposition; nil when the part has none.
    public var name: String?
    public var filename: String?
    public var contentType: String?
    /// In arrival order; names lowercased, values trimmed.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(name: String? = nil, filename: String? = nil, contentType: String? = nil,
                headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }
}
