/// One HTTP/1.1 connection's protocol state: the parser, one request at a time, 100-continue,
/// keep-alive, timeouts. While a request is being answered the connection stops reading, and
/// a pipelined request is taken up only once the answers before it are mostly on the wire:
/// a client that sends without reading meets TCP backpressure, not a growing buffer.
final class HTTP1Session {
    unowned let connection: Connection
    private let config: HTTPServerConfiguration
    private var parser: HTTP1Parser
    private var waiting: [UInt8] = []
    private var head: HTTP1RequestHead?
    private var body: [UInt8] = []
    private var reservation: BodyReservation
    private var requestStartedAt: UInt64?
    private var sequence: UInt64 = 0
    private var responder: HTTPResponder?
    private var summary: RequestSummary?
    private var keepAlive = true
    private(set) var awaitingResponse = false

    init(connection: Connection, config: HTTPServerConfiguration) {
        self.connection = connection
        self.config = config
        reservation = BodyReservation(connection.server.bodyBudget)
        parser = HTTP1Parser(limits: HTTP1Limits(maxRequestLine: config.maxRequestLine, maxHeaderBytes: config.maxHeaderBytes,
                                                 maxHeaders: config.maxHeaderCount, maxBody: config.maxBodyBytes))
    }

    var isIdle: Bool { !awaitingResponse && parser.isIdle && waiting.isEmpty }

    /// Reading stops while a request is being answered or pipelined bytes wait their turn.
    var wantsInput: Bool { !awaitingResponse && waiting.isEmpty }

    func receive(_ bytes: UnsafeRawBufferPointer) {
        if awaitingResponse || !waiting.isEmpty {
            // Bytes of a pipelined request, read before reading paused: at most one read's worth.
            waiting.append(contentsOf: bytes)
            return
        }
        process(bytes)
    }

    /// The connection's unsent answers fell below the bound: take up pipelined requests.
    func outputDrained() {
        guard !awaitingResponse, !waiting.isEmpty else { return }
        let pending = waiting
        waiting.removeAll()
        pending.withUnsafeBytes { process($0) }
    }

    private func process(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count, !awaitingResponse {
            if requestStartedAt == nil { requestStartedAt = Sys.now() }
            do {
                let (consumed, events) = try parser.feed(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                offset += consumed
                for event in events { handle(event) }
                if consumed == 0 { break }
            } catch {
                fail(.protocolError(error))
                return
            }
        }
        if offset < bytes.count { waiting.append(contentsOf: bytes[offset...]) }
    }

    private func handle(_ event: HTTP1Event) {
        switch event {
        case let .head(h):
            head = h
            keepAlive = h.keepAlive
            if h.expectContinue { connection.enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        case let .body(chunk):
            guard reservation.grow(chunk.count) else { return fail(.bodyBudget(config.maxBufferedBodyBytes)) }
            body.append(contentsOf: chunk)
        case .end:
            guard let head else { return }
            awaitingResponse = true
            sequence += 1
            let protocolName = head.versionMinor == 0 ? "HTTP/1.0" : "HTTP/1.1"
            summary = RequestSummary(protocolName: protocolName, method: head.method, target: head.target, startedAt: Sys.now())
            let seq = sequence
            let r = connection.server.responder(connection: connection.id) { c, response in
                c.respondHTTP1(sequence: seq, response)
            }
            responder = r
            let requestBody = body
            body = []
            let taken = reservation
            reservation = BodyReservation(connection.server.bodyBudget)
            connection.server.dispatch(method: head.method, target: head.target, headers: head.headers, body: requestBody,
                                       reservation: taken, protocolName: protocolName, connection: connection, responder: r)
        }
    }

    /// A protocol error: answer it and close (the stream of bytes can no longer be trusted).
    private func fail(_ refusal: HTTPRefusal) {
        let target = head?.target ?? parser.currentTarget
        connection.server.refused(refusal, target.flatMap { try? RequestTarget(parsing: $0) }?.path ?? "")
        body = []
        reservation.release()
        keepAlive = false
        awaitingResponse = true
        sequence += 1
        write(.error(refusal), method: head?.method ?? "GET")
        connection.closeAfterFlush()
    }

    func respond(sequence: UInt64, _ response: HTTPResponse) {
        guard awaitingResponse, sequence == self.sequence, let head else { return }
        if let summary { connection.server.log(summary, status: response.status, bytes: response.body.count) }
        if connection.server.isDraining { keepAlive = false }
        write(response, method: head.method)
        responder = nil
        summary = nil
        self.head = nil
        awaitingResponse = false
        requestStartedAt = nil
        parser.reset()
        if !keepAlive {
            connection.closeAfterFlush()
            return
        }
        if connection.unsentBytes <= config.maxResponseQueueBytes { outputDrained() }
        connection.inputInterestChanged()
    }

    private func write(_ response: HTTPResponse, method: String) {
        var text = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(response.status))\r\n"
        for (name, value) in response.headers where !["content-length", "connection", "transfer-encoding"].contains(name.lowercased()) {
            // Header injection guard: values never carry line breaks onto the wire.
            let clean = value.filter { $0 != "\r" && $0 != "\n" }
            text += "\(name): \(clean)\r\n"
        }
        // 204 and 304 carry no body and, for 204, no Content-Length (RFC 9110 §8.6).
        if response.status != 204 && response.status != 304 { text += "content-length: \(response.body.count)\r\n" }
        if !keepAlive { text += "connection: close\r\n" }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if method != "HEAD" { bytes += response.body }
        connection.enqueue(bytes)
    }

    func cancelPending() {
        responder?.cancel()
        responder = nil
        reservation.release()
    }

    func checkTimeouts(now: UInt64, quiet: UInt64) {
        guard !awaitingResponse else { return }
        func seconds(_ s: Double) -> UInt64 { UInt64(s * 1e9) }
        if parser.isIdle && waiting.isEmpty {
            if quiet > seconds(config.idleTimeoutSeconds) { connection.close() }
        } else if !parser.headComplete {
            if let start = requestStartedAt, now - start > seconds(config.headerTimeoutSeconds) {
                fail(.receiveTimeout("request headers not received within \(Int(config.headerTimeoutSeconds)) s"))
            }
        } else if quiet > seconds(config.bodyTimeoutSeconds) {
            fail(.receiveTimeout("request body stalled for \(Int(config.bodyTimeoutSeconds)) s"))
        } else if let start = requestStartedAt, now - start > seconds(config.requestTimeoutSeconds) {
            fail(.receiveTimeout("request not received within \(Int(config.requestTimeoutSeconds)) s"))
        }
    }
}
