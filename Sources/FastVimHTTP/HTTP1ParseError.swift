/// Why a request was refused. Each case maps to the status the connection answers with before
/// it closes: after any of these the byte stream can no longer be trusted to frame messages.
public enum HTTP1ParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 400: malformed syntax; the message says which rule was broken.
    case badRequest(String)
    /// 414: the request line (in practice, its target) exceeds `HTTP1Limits.maxRequestLine`.
    case uriTooLong
    /// 431: the header (or trailer) section exceeds its byte or field-count limit.
    case headersTooLarge
    /// 413: the declared or accumulated body exceeds `HTTP1Limits.maxBody`.
    case bodyTooLarge
    /// 501: a transfer coding other than `chunked`.
    case notImplemented(String)
    /// 505: an HTTP version other than 1.0 or 1.1 (including the HTTP/2 preface).
    case versionNotSupported
    /// 417: an `Expect` value other than `100-continue`.
    case expectationFailed

    public var status: Int {
        switch self {
        case .badRequest: 400
        case .uriTooLong: 414
        case .headersTooLarge: 431
        case .bodyTooLarge: 413
        case .notImplemented: 501
        case .versionNotSupported: 505
        case .expectationFailed: 417
        }
    }

    /// Short enough for a plain-text error body; never echoes request bytes back.
    public var message: String {
        switch self {
        case .badRequest(let why): why
        case .uriTooLong: "request target too long"
        case .headersTooLarge: "header section too large"
        case .bodyTooLarge: "request body too large"
        case .notImplemented(let why): why
        case .versionNotSupported: "HTTP version not supported"
        case .expectationFailed: "expectation not supported"
        }
    }

    public var description: String { "\(status) \(message)" }
}
