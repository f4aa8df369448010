import FastVimHTTP
import Foundation

/// One request's way back: records the route's metrics exactly once, then responds.
struct Reply: Sendable {
    let responder: HTTPResponder
    let route: String
    let startedAt: UInt64
    let metrics: ServerMetrics

    var isFinished: Bool { responder.isFinished }

    func send(_ response: HTTPResponse) {
        guard !responder.isFinished else { return }
        metrics.request(route: route, code: response.status, seconds: Double(Clock.now() - startedAt) / 1e9)
        responder.respond(response)
    }

    func json(_ status: Int, _ object: Any) {
        send(Self.jsonResponse(status, object))
    }

    func error(_ status: Int, _ message: String, headers: [(name: String, value: String)] = []) {
        send(.error(status, message, headers: headers))
    }

    /// A job the batcher could not run; a vanished client gets nothing (nobody listens).
    func fail(_ failure: InferenceFailure) {
        if case .cancelled = failure { return }
        error(failure.status, failure.description, headers: failure.status == 503 ? [("retry-after", "1")] : [])
    }

    static func jsonResponse(_ status: Int, _ object: Any) -> HTTPResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("content-type", "application/json")], body: Array(data))
    }
}
