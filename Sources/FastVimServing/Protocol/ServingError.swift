// The fuzz harnesses (fuzz/swift) compile this file together with FastVimHTTP's sources.
#if canImport(FastVimHTTP)
import FastVimHTTP
#endif

/// Every failure the application tells a client about, and the one place where each one's
/// HTTP status and metrics reason are decided. Routes throw or pass these; `Reply.fail`
/// answers them. Client mistakes are 4xx; a failure on our side (a backend error, outputs
/// that are not finite numbers) is a 5xx that names the cause, never a 400 or an empty 200.
enum ServingError: ClientFacingError {
    /// The request is malformed or asks for something the model cannot do.
    case badRequest(String)
    case notFound(String)
    /// No valid bearer token (401, with `WWW-Authenticate: Bearer`).
    case unauthenticated
    /// A valid token without the scope the route needs (403).
    case forbidden(Scope)
    case methodNotAllowed(String, allow: [String])
    /// The benchmark endpoint is busy, or refuses to run beside traffic.
    case conflict(String)
    /// Larger than a limit (body, image, tensor, or one pass over the activation budget).
    case tooLarge(String)
    case unsupportedMediaType(String)
    /// A memory budget is spent for now; retrying later can succeed.
    case budgetExhausted(String)
    case queueFull(Int)
    /// The model is not loaded (or is loading): retrying later can succeed.
    case modelUnavailable(String)
    case shuttingDown
    case deadlineExceeded
    /// The client went away; nobody reads the answer (counted as 499).
    case cancelled
    /// The backend failed while computing.
    case backendFailure(String)
    /// The model's outputs are not finite numbers (NaN or infinity): no valid answer exists.
    case nonFiniteOutput(String)
    /// Our own bug or broken configuration.
    case internalError(String)

    var status: Int {
        switch self {
        case .badRequest: 400
        case .unauthenticated: 401
        case .forbidden: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .conflict: 409
        case .tooLarge: 413
        case .unsupportedMediaType: 415
        case .cancelled: 499
        case .backendFailure, .nonFiniteOutput, .internalError: 500
        case .budgetExhausted, .queueFull, .shuttingDown, .modelUnavailable: 503
        case .deadlineExceeded: 504
        }
    }

    var reason: String {
        switch self {
        case .badRequest, .notFound, .methodNotAllowed, .conflict: "bad_input"
        case .unauthenticated: "unauthenticated"
        case .forbidden: "forbidden"
        case .tooLarge: "too_large"
        case .unsupportedMediaType: "unsupported_media_type"
        case .budgetExhausted: "memory_budget"
        case .queueFull: "queue_full"
        case .shuttingDown: "shutting_down"
        case .modelUnavailable: "model_unavailable"
        case .deadlineExceeded: "deadline"
        case .cancelled: "cancelled"
        case .backendFailure: "backend_error"
        case .nonFiniteOutput: "non_finite_output"
        case .internalError: "internal_error"
        }
    }

    var message: String {
        switch self {
        case let .badRequest(m), let .notFound(m), let .methodNotAllowed(m, _), let .conflict(m), let .tooLarge(m),
             let .unsupportedMediaType(m), let .budgetExhausted(m), let .internalError(m), let .modelUnavailable(m):
            m
        case .unauthenticated: "a bearer token is required (Authorization: Bearer <token>)"
        case let .forbidden(scope): "this token lacks the \(scope.rawValue) scope this route needs"
        case let .queueFull(n): "inference queue full (\(n) images); retry shortly"
        case .shuttingDown: "server is shutting down"
        case .deadlineExceeded: "deadline exceeded before the answer was ready"
        case .cancelled: "client went away"
        case let .backendFailure(m): "inference failed: \(m)"
        case let .nonFiniteOutput(m): "the model produced non-finite outputs (\(m)); the input drives it out of float range"
        }
    }

    var headers: [(name: String, value: String)] {
        switch self {
        case let .methodNotAllowed(_, allow): [("allow", allow.joined(separator: ", "))]
        case .unauthenticated: [("www-authenticate", #"Bearer realm="fastvim""#)]
        case .budgetExhausted, .queueFull, .shuttingDown, .modelUnavailable: [("retry-after", "1")]
        default: []
        }
    }
}
