/// An error a client is told about: the status it gets, the reason metrics count it under,
/// and the message of its `{"error": ...}` body. Each conforming type decides its statuses
/// in one switch, so a status is never chosen at the place an error is thrown.
public protocol ClientFacingError: Error, Sendable {
    var status: Int { get }
    /// The `reason` label of `fastvim_rejected_total` (and the statistics' failure counts).
    var reason: String { get }
    var message: String { get }
    /// Extra response headers: `retry-after` on a 503, `allow` on a 405.
    var headers: [(name: String, value: String)] { get }
}

extension ClientFacingError {
    public var headers: [(name: String, value: String)] { status == 503 ? [("retry-after", "1")] : [] }
}

extension HTTPResponse {
    /// The one shape every error answer takes.
    public static func error(_ failure: some ClientFacingError) -> HTTPResponse {
        .error(failure.status, failure.message, headers: failure.headers)
    }
}

/// What the HTTP layer refuses by itself, before the application sees a request.
public enum HTTPRefusal: ClientFacingError, Equatable {
    /// The request's bytes broke the protocol or a size limit.
    case protocolError(HTTP1ParseError)
    /// Headers and body did not arrive within the request timeout.
    case receiveTimeout(String)
    /// Every request body held at once would pass `--max-buffered-body-bytes`.
    case bodyBudget(Int)
    /// `--max-inflight` requests are already being processed.
    case busy(Int)

    public var status: Int {
        switch self {
        case let .protocolError(e): e.status
        case .receiveTimeout: 408
        case .bodyBudget, .busy: 503
        }
    }

    public var reason: String {
        switch self {
        case let .protocolError(e): e.status == 413 || e.status == 431 || e.status == 414 ? "too_large" : "bad_input"
        case .receiveTimeout: "timeout"
        case .bodyBudget: "memory_budget"
        case .busy: "queue_full"
        }
    }

    public var message: String {
        switch self {
        case let .protocolError(e): e.message
        case let .receiveTimeout(why): why
        case let .bodyBudget(limit):
            "the server already holds its request-body budget (\(limit) bytes, --max-buffered-body-bytes); retry shortly"
        case let .busy(n): "server busy: \(n) requests in flight"
        }
    }
}
