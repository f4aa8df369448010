#if canImport(Glibc)
import Glibc
#endif
import CPosix
import CTLS
import Logging
import Synchronization

/// The HTTP/1.1 + HTTP/2 server: one epoll loop thread owns every socket; the application
/// (`HTTPHandler`) gets complete requests and answers through `HTTPResponder`s from any thread.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    public let logger: Logger
    let loop: EventLoop
    let tlsContext: OpaquePointer?
    private let handler: HTTPHandler
    private var listeners: [Listener] = []
    private var connections: [UInt64: Connection] = [:]
    private var nextConnectionID: UInt64 = 0
    private let inflight = InflightCounter()
    /// Answer bytes queued on connections and not yet written, across all of them.
    let unsent = Atomic<Int>(0)
    private let draining = Atomic<Bool>(false)
    private var drainDeadline: UInt64?
    private let connectionCounts = Mutex<[String: Int]>([:])
    /// Told of every answer the HTTP layer gives by itself (protocol errors, limits, the
    /// in-flight bound): status and request path (empty when no request line was read), so
    /// the application's metrics count them too. Set before `run()`.
    public var refusalObserver: (@Sendable (any ClientFacingError, String) -> Void)?
    /// Request bodies held at once (`maxBufferedBodyBytes`).
    public let bodyBudget: BodyBudget

    /// Listens at once (so start-up errors surface here); `run()` then serves.
    public init(configuration: HTTPServerConfiguration, handler: HTTPHandler, logger: Logger) throws {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        bodyBudget = BodyBudget(limit: configuration.maxBufferedBodyBytes)
        Sys.raiseFileLimit()
        // A client that vanishes mid-write must be an error on that socket, not a signal.
        signal(SIGPIPE, SIG_IGN)
        loop = try EventLoop()
        if let cert = configuration.tlsCertificate, let key = configuration.tlsKey {
            var message = [CChar](repeating: 0, count: 512)
            guard let context = ctls_context_new(cert, key, &message, message.count) else {
                throw SystemError(call: String(cString: message), code: EINVAL)
            }
            if let ca = configuration.tlsClientCA,
               ctls_context_require_client_certificates(context, ca, &message, message.count) != Int32(CTLS_OK) {
                ctls_context_free(context)
                throw SystemError(call: String(cString: message), code: EINVAL)
            }
            tlsContext = context
        } else {
            tlsContext = nil
        }
        let listener = try Listener(host: configuration.host, port: configuration.port, server: self)
        try loop.register(listener.fd, events: EPOLLIN.rawValue, listener)
        listeners.append(listener)
        loop.tick = { [unowned self] in self.tick() }
    }

    deinit {
        if let tlsContext { ctls_context_free(tlsContext) }
    }

    /// Where it listens, e.g. "127.0.0.1:8080".
    public var addresses: [String] { listeners.map { $0.address.replacingPort($0.boundPort) } }
    public var port: Int { listeners.first?.boundPort ?? configuration.port }
    public var isTLSEnabled: Bool { tlsContext != nil }

    /// True from the moment shutdown begins: readiness must answer 503.
    public var isDraining: Bool { draining.load(ordering: .acquiring) }
    public var inflightRequests: Int { inflight.value.load(ordering: .relaxed) }
    public var unsentResponseBytes: Int { unsent.load(ordering: .relaxed) }
    /// Open connections by protocol label (h2, h2c, http1, https1, handshake).
    public var connectionsByProtocol: [String: Int] { connectionCounts.withLock { $0 } }

    /// Serves until shutdown completes.
    public func run() {
        loop.run()
    }

    /// Graceful shutdown, from any thread: stop accepting, let in-flight requests finish,
    /// send GOAWAY, and return from `run()` when done or after the shutdown timeout.
    public func beginShutdown() {
        if draining.exchange(true, ordering: .acquiringAndReleasing) { return }
        loop.execute { [self] in
            logger.info("shutting down: draining \(connections.count) connections, \(inflightRequests) requests in flight")
            for l in listeners { l.close() }
            listeners.removeAll()
            drainDeadline = Sys.now() + UInt64(configuration.shutdownTimeoutSeconds * 1e9)
            for c in Array(connections.values) { c.beginDraining() }
            if connections.isEmpty { loop.stop() }
        }
    }

    // MARK: - Loop-thread internals

    func accepted(_ fd: Int32, remote: String) {
        guard connections.count < configuration.maxConnections, !isDraining else {
            Glibc.close(fd)
            return
        }
        do {
            try Sys.setNonBlocking(fd)
            Sys.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            nextConnectionID += 1
            let c = Connection(id: nextConnectionID, fd: fd, remoteAddress: remote, server: self)
            try loop.register(fd, events: EPOLLIN.rawValue | EPOLLRDHUP.rawValue, c)
            connections[c.id] = c
            count(c.protocolLabel, +1)
        } catch {
            Glibc.close(fd)
        }
    }

    func protocolChanged(_ c: Connection) {
        count("handshake", -1)
        count(c.protocolLabel, +1)
    }

    func connectionClosed(_ c: Connection, label: String) {
        connections[c.id] = nil
        count(label, -1)
        if isDraining && connections.isEmpty { loop.stop() }
    }

    private func count(_ label: String, _ delta: Int) {
        connectionCounts.withLock { $0[label, default: 0] += delta }
    }

    /// Hands a complete request to the application, or refuses it when too many are in flight.
    /// The body's bytes stay in `reservation` until the answer goes out.
    func dispatch(method: String, target: String, headers: [(name: String, value: String)], body: [UInt8],
                  reservation: BodyReservation, protocolName: String, connection: Connection, responder: HTTPResponder) {
        if target == "*" {
            // The asterisk form asks about the server as a whole (RFC 9110 §9.3.7): OPTIONS only.
            reservation.release()
            guard method == "OPTIONS" else {
                return refuse(.protocolError(.badRequest("the * request target is for OPTIONS only")), "", responder)
            }
            return responder.respond(HTTPResponse(status: 200, headers: [("allow", "GET, HEAD, POST, OPTIONS")]))
        }
        let parsed: RequestTarget
        do {
            parsed = try RequestTarget(parsing: target)
        } catch {
            reservation.release()
            return refuse(.protocolError(error), "", responder)
        }
        let counter = inflight
        let current = counter.value.add(1, ordering: .relaxed).newValue
        responder.whenFinished {
            counter.value.subtract(1, ordering: .relaxed)
            reservation.release()
        }
        if current > configuration.maxInflightRequests {
            return refuse(.busy(configuration.maxInflightRequests), parsed.path, responder)
        }
        let request = HTTPRequest(method: method, target: target, path: parsed.path, segments: parsed.segments,
                                  query: parsed.query, headers: headers,
                                  body: body, protocolName: protocolName, remoteAddress: connection.remoteAddress,
                                  receivedAt: Sys.now())
        handler.handle(request, responder)
    }

    /// A responder whose answer hops to the loop thread and to the connection, if it is still open.
    func responder(connection id: UInt64, _ deliver: @escaping @Sendable (Connection, HTTPResponse) -> Void) -> HTTPResponder {
        HTTPResponder { [self] response in
            loop.execute { [self] in
                if let c = connections[id] { deliver(c, response) }
            }
        }
    }

    /// Answers a refusal of the HTTP layer's own and tells the application's metrics.
    func refuse(_ refusal: HTTPRefusal, _ path: String, _ responder: HTTPResponder) {
        refused(refusal, path)
        responder.respond(.error(refusal))
    }

    func refused(_ refusal: HTTPRefusal, _ path: String) {
        refusalObserver?(refusal, path)
    }

    func log(_ summary: RequestSummary, status: Int, bytes: Int) {
        let ms = Double(Sys.now() - summary.startedAt) / 1e6
        logger.info("\(summary.protocolName) \(summary.method) \(summary.target) \(status) \(bytes)B \((ms * 100).rounded() / 100)ms")
    }

    private func tick() {
        let now = Sys.now()
        for c in Array(connections.values) { c.checkTimeouts(now: now) }
        if let deadline = drainDeadline, now > deadline {
            logger.warning("shutdown timeout: closing \(connections.count) connections")
            for c in Array(connections.values) { c.close() }
            loop.stop()
        }
    }
}

/// The number of requests handed to the application and not yet answered or cancelled.
final class InflightCounter: Sendable {
    let value = Atomic<Int>(0)
}

private extension String {
    func replacingPort(_ port: Int) -> String {
        guard let colon = lastIndex(of: ":") else { return self }
        return String(self[..<colon]) + ":\(port)"
    }
}
