import Synchronization

/// The way back to one request's client, usable from any thread, exactly once.
/// When the client resets the stream or closes the connection first, the responder is
/// cancelled: `isCancelled` turns true and the `onCancel` callbacks run (on the loop thread),
/// so queued work for a vanished client can be dropped.
public final class HTTPResponder: Sendable {
    private struct State {
        var answered = false
        var cancelled = false
        var cancelHandlers: [@Sendable () -> Void] = []
        var finished: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    private let deliver: @Sendable (HTTPResponse) -> Void

    init(deliver: @escaping @Sendable (HTTPResponse) -> Void) {
        self.deliver = deliver
    }

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Answered or cancelled: nothing more will reach the client through this responder.
    public var isFinished: Bool { state.withLock { $0.cancelled || $0.answered } }

    /// Sends the response; later calls are ignored (every request gets exactly one answer).
    public func respond(_ response: HTTPResponse) {
        let (first, finished) = state.withLock { s -> (Bool, (@Sendable () -> Void)?) in
            if s.answered || s.cancelled { return (false, nil) }
            s.answered = true
            defer { s.finished = nil }
            return (true, s.finished)
        }
        if first {
            finished?()
            deliver(response)
        }
    }

    /// Runs `handler` when the client goes away before the answer (at once if it already has).
    public func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s -> Bool in
            if s.cancelled { return true }
            s.cancelHandlers.append(handler)
            return false
        }
        if runNow { handler() }
    }

    func cancel() {
        let (handlers, finished) = state.withLock { s -> ([@Sendable () -> Void], (@Sendable () -> Void)?) in
            if s.answered || s.cancelled { return ([], nil) }
            s.cancelled = true
            let h = s.cancelHandlers
            s.cancelHandlers.removeAll()
            defer { s.finished = nil }
            return (h, s.finished)
        }
        finished?()
        for h in handlers { h() }
    }

    /// Runs once, when the request is answered or cancelled, whichever comes first.
    func whenFinished(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.finished = body }
    }
}
