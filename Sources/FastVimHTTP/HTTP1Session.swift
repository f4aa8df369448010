/// One HTTP/1.1 connection's protocol state: the parser, one request at a time (pipelined
/// bytes wait until the current answer is written), 100-continue, keep-alive, timeouts.
final class HTTP1Session {
    unowned let connection: Connection
    private let config: HTTPServerConfiguration
    private var parser: HTTP1Parser
    private var waiting: [UInt8] = []
    private var head: HTTP1RequestHead?
    private var body: [UInt8] = []
    private var requestStartedAt: UInt64?
    private var sequence: UInt64 = 0
    private var responder: HTTPResponder?
    private var summary: RequestSummary?
    private var keepAlive = true
    private(set) var awaitingResponse = false

    init(connection: Connection, config: HTTPServerConfiguration) {
        self.connection = connection
        self.config = config
        parser = HTTP1Parser(limits: HTTP1Limits(maxRequestLine: config.maxRequestLine, maxHeaderBytes: config.maxHeaderBytes,
                                                 maxHeaders: config.maxHeaderCount, maxBody: config.maxBodyBytes))
    }

    var isIdle: Bool { !awaitingResponse && parser.isIdle && waiting.isEmpty }

    func receive(_ bytes: UnsafeRawBufferPointer) {
        if awaitingResponse || !waiting.isEmpty {
            // Bytes of a pipelined request: held until the current answer is out, and bounded.
            waiting.append(contentsOf: bytes)
            if waiting.count > config.maxBodyBytes + config.maxHeaderBytes {
                fail(status: 413, message: "too much pipelined data")
            }
            return
        }
        process(bytes)
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
                fail(status: error.status, message: error.message)
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
            connection.server.dispatch(method: head.method, target: head.target, headers: head.headers, body: requestBody,
                                       protocolName: protocolName, connection: connection, responder: r)
        }
    }

    /// A protocol error: answer it and close (the stream of bytes can no longer be trusted).
    private func fail(status: Int, message: String) {
        let target = head?.target ?? parser.currentTarget
        connection.server.refused(status, target.flatMap { try? RequestTarget(parsing: $0) }?.path ?? "")
        keepAlive = false
        awaitingResponse = true
        sequence += 1
        write(HTTPResponse.error(status, message), method: head?.method ?? "GET")
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
        let pending = waiting
        waiting.removeAll()
        if !pending.isEmpty { pending.withUnsafeBytes { process($0) } }
    }

    private func write(_ response: HTTPResponse, method: String) {
        var text = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(response.status))\r\n"
        for (name, value) in response.headers where !["content-length", "connection", "transfer-encoding"].contains(name.lowercased()) {
            // Header injection guard: values never carry line breaks onto the wire.
            let clean = value.filter { $0 != "\r" && $0 != "\n" }
            text += "\(name): \(clean)\r\n"
        }
        text += "content-length: \(response.body.count)\r\n"
        if !keepAlive { text += "connection: close\r\n" }
        text += "\r\n"
        var bytes = Array(text.utf8)
        if method != "HEAD" { bytes += response.body }
        connection.enqueue(bytes)
    }

    func cancelPending() {
        responder?.cancel()
        responder = nil
    }

    func checkTimeouts(now: UInt64, quiet: UInt64) {
        guard !awaitingResponse else { return }
        func seconds(_ s: Double) -> UInt64 { UInt64(s * 1e9) }
        if parser.isIdle && waiting.isEmpty {
            if quiet > seconds(config.idleTimeoutSeconds) { connection.close() }
        } else if !parser.headComplete {
            if let start = requestStartedAt, now - start > seconds(config.headerTimeoutSeconds) {
                fail(status: 408, message: "request headers not received within \(Int(config.headerTimeoutSeconds)) s")
            }
        } else if quiet > seconds(config.bodyTimeoutSeconds) {
            fail(status: 408, message: "request body stalled for \(Int(config.bodyTimeoutSeconds)) s")
        }
    }
}
