import FastVimHTTP
import Foundation

/// One request's way back: records the route's metrics exactly once, then responds.
struct Reply: Sendable {
    let responder: HTTPResponder
    let route: String
    let startedAt: UInt64
    let metrics: ServerMetrics
    /// What the client's Accept-Encoding lets us compress answers with.
    var encoding: ContentCoding? = nil

    var isFinished: Bool { responder.isFinished }

    func send(_ response: HTTPResponse) {
        guard !responder.isFinished else { return }
        metrics.request(route: route, code: response.status, seconds: Double(Clock.now() - startedAt) / 1e9)
        var response = response
        // Compressed on the thread that answers (a worker or the decode pool), never the loop.
        if let encoding, response.body.count >= 1024, !response.headers.contains(where: { $0.name == "content-encoding" }),
           let packed = encoding.encode(response.body) {
            response.body = packed
            response.headers.append(("content-encoding", encoding.rawValue))
            response.headers.append(("vary", "accept-encoding"))
        }
        responder.respond(response)
    }

    func json(_ status: Int, _ object: [String: Any]) {
        send(Self.jsonResponse(status, object))
    }

    func jsonArray(_ status: Int, _ array: [Any]) {
        send(Self.jsonResponse(status, array))
    }

    /// The error's own status, headers and message; a vanished client gets nothing (nobody listens).
    func fail(_ error: ServingError) {
        if case .cancelled = error { return }
        send(.error(error))
    }

    /// A body that cannot be written as JSON (a non-finite number slipped through) is our
    /// failure: a 500 that says so, never a 200 with an empty object.
    static func jsonResponse(_ status: Int, _ object: Any) -> HTTPResponse {
        guard let body = JSONAnswer.bytes(object)
        else { return .error(ServingError.internalError("the answer could not be written as JSON (a non-finite number?)")) }
        return HTTPResponse(status: status, headers: [("content-type", "application/json")], body: body)
    }
}
