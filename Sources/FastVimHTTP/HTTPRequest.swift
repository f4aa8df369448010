/// A complete request, body included, as the application sees it whatever the protocol.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent (path and query).
    public var target: String
    public var path: String
    /// The path's segments, each decoded on its own: what routing compares.
    public var segments: [String]
    public var query: [(name: String, value: String)]
    /// Header names are lowercase (HTTP/2 requires it; HTTP/1.1 ones are folded).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// "HTTP/1.0", "HTTP/1.1" or "HTTP/2".
    public var protocolName: String
    public var remoteAddress: String
    /// Monotonic nanoseconds when the request was complete.
    public var receivedAt: UInt64

    public init(method: String, target: String, path: String, segments: [String]? = nil, query: [(name: String, value: String)],
                headers: [(name: String, value: String)], body: [UInt8], protocolName: String,
                remoteAddress: String, receivedAt: UInt64) {
        self.method = method
        self.target = target
        self.path = path
        self.segments = segments ?? path.split(separator: "/").map(String.init)
        self.query = query
        self.headers = headers
        self.body = body
        self.protocolName = protocolName
        self.remoteAddress = remoteAddress
        self.receivedAt = receivedAt
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }
}

/// A complete response. Content-Length (HTTP/1.1) and framing are the server's business.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", contentType)], body: Array(text.utf8))
    }

    /// `{"error": message}` with the given status: the one shape every error takes.
    public static func error(_ status: Int, _ message: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var escaped = ""
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            default:
                if scalar.value < 0x20 {
                    escaped += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return HTTPResponse(status: status, headers: [("content-type", "application/json")] + headers,
                            body: Array("{\"error\": \"\(escaped)\"}".utf8))
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 499: "Client Closed Request"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// The application: called on the event loop thread with a complete request. It must not
/// block: cheap answers respond at once, real work goes to other threads and responds
/// from there.
public protocol HTTPHandler: AnyObject, Sendable {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder)
}
