#if canImport(Glibc)
import Glibc
#endif
import CPosix
import CTLS

/// One accepted socket: its transport (plain or TLS), the protocol it turned out to speak
/// (sniffed from the first bytes, or TLS ALPN), its output buffer and its timers.
/// Owned by the server and touched on the loop thread only.
final class Connection: EventHandler {
    enum Phase {
        case sniffing
        case tlsHandshake
        case http1(HTTP1Session)
        case http2(HTTP2Session)
        case closed
    }

    static let http2Preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    let id: UInt64
    let fd: Int32
    let remoteAddress: String
    unowned let server: HTTPServer
    private(set) var phase: Phase = .sniffing
    private var tls: OpaquePointer?
    private var tlsPending = false
    private var sniffed: [UInt8] = []
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var closeWhenFlushed = false
    /// After an HTTP/1.1 error answer: our side is shut, the client's remaining upload is
    /// read and dropped until it closes or this deadline passes, so a client still sending
    /// its body reads the answer instead of a connection reset.
    private var lingerUntil: UInt64?
    private var readingPaused = false
    private var watchingWrites = false
    /// When unsent output last shrank (or appeared): the send timeout counts from here.
    private var lastWriteProgress: UInt64 = 0
    /// Inside `outputDrained`: a session producing more output must not re-enter it.
    private var refilling = false
    let acceptedAt: UInt64
    private(set) var lastActivity: UInt64

    init(id: UInt64, fd: Int32, remoteAddress: String, server: HTTPServer) {
        self.id = id
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.server = server
        acceptedAt = Sys.now()
        lastActivity = acceptedAt
    }

    var protocolLabel: String {
        switch phase {
        case .http1: tls != nil ? "https1" : "http1"
        case .http2: tls != nil ? "h2" : "h2c"
        default: "handshake"
        }
    }

    var isClosed: Bool { if case .closed = phase { true } else { false } }

    // MARK: - Events

    func handle(events: UInt32) {
        if events & EPOLLOUT.rawValue != 0 { flush() }
        let hangup = EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue
        if readingPaused, events & hangup != 0 {
            // The client hung up while we were not reading: its requests are cancelled
            // (reading on would only find the same end of file, and a level-triggered
            // hang-up would otherwise wake the loop forever).
            close()
            return
        }
        if events & (EPOLLIN.rawValue | hangup) != 0 {
            readAvailable()
        }
    }

    private func readAvailable() {
        let capacity = 64 << 10
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        // Bounded per wake-up so one busy client cannot starve the others.
        for _ in 0 ..< 16 {
            if isClosed || readingPaused { return }
            if case let .http1(session) = phase, !session.wantsInput, lingerUntil == nil {
                updateInterest()
                return
            }
            if case .sniffing = phase, tls == nil, sniffed.isEmpty, peekForTLS() {}
            if case .tlsHandshake = phase {
                continueHandshake()
                if case .tlsHandshake = phase { return }
            }
            if lingerUntil != nil {
                if drainLinger(buffer, capacity) { continue }
                return
            }
            var n = 0
            if let tls {
                let r = ctls_read(tls, buffer, capacity)
                if r > 0 {
                    n = r
                } else if r == Int(CTLS_WANT_READ) || r == Int(CTLS_WANT_WRITE) {
                    return
                } else {
                    peerClosed()
                    return
                }
            } else {
                do {
                    switch try Sys.read(fd, buffer, capacity) {
                    case let .bytes(k): n = k
                    case .wouldBlock: return
                    case .endOfFile:
                        peerClosed()
                        return
                    }
                } catch {
                    close()
                    return
                }
            }
            lastActivity = Sys.now()
            received(UnsafeRawBufferPointer(start: buffer, count: n))
        }
    }

    /// Reads and drops one buffer while lingering; false when there is nothing more for now.
    private func drainLinger(_ buffer: UnsafeMutableRawPointer, _ capacity: Int) -> Bool {
        if let tls {
            let r = ctls_read(tls, buffer, capacity)
            if r > 0 { return true }
            if r == Int(CTLS_WANT_READ) || r == Int(CTLS_WANT_WRITE) { return false }
        } else {
            switch try? Sys.read(fd, buffer, capacity) {
            case .bytes?: return true
            case .wouldBlock?: return false
            default: break
            }
        }
        close()
        return false
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .sniffing: sniff(bytes)
        case let .http1(session): session.receive(bytes)
        case let .http2(session): feed(session, bytes)
        case .tlsHandshake, .closed: break
        }
    }

    /// A session that has sent GOAWAY for an error wants neither to read nor write: the
    /// connection must close (RFC 9113 §5.4.1), not linger until the idle timeout.
    private func feed(_ session: HTTP2Session, _ bytes: UnsafeRawBufferPointer) {
        if !session.receive(bytes) || session.isFinished { closeAfterFlush() }
    }

    /// Decides the protocol from the first bytes: a TLS record, the HTTP/2 preface, or HTTP/1.1.
    private func sniff(_ bytes: UnsafeRawBufferPointer) {
        if server.configuration.tlsClientCA != nil, tls == nil {
            // Mutual TLS is required: a plaintext connection has no certificate to check.
            server.logger.debug("plaintext connection from \(remoteAddress) refused: client certificates are required")
            close()
            return
        }
        sniffed.append(contentsOf: bytes)
        let preface = Self.http2Preface
        let n = min(sniffed.count, preface.count)
        if sniffed[0 ..< n].elementsEqual(preface[0 ..< n]) {
            if sniffed.count < preface.count { return }
            startHTTP2()
        } else {
            startHTTP1()
        }
    }

    private func startTLS() {
        guard let context = server.tlsContext, let t = ctls_connection_new(context, fd) else {
            close()
            return
        }
        // The ClientHello is still unread (see `peekForTLS`): OpenSSL reads it from the socket.
        tls = t
        phase = .tlsHandshake
        continueHandshake()
    }

    private func continueHandshake() {
        guard let tls else { return }
        var message = [CChar](repeating: 0, count: 256)
        let r = ctls_handshake(tls, &message, message.count)
        if r == Int32(CTLS_OK) {
            if ctls_alpn(tls) == 2 { startHTTP2() } else { phase = .sniffing }
        } else if r == Int32(CTLS_WANT_READ) || r == Int32(CTLS_WANT_WRITE) {
            return
        } else {
            server.logger.debug("TLS handshake from \(remoteAddress) failed: \(String(cString: message))")
            close()
        }
    }

    /// Looks at the first byte without consuming it, so OpenSSL reads the whole ClientHello.
    func peekForTLS() -> Bool {
        guard server.tlsContext != nil else { return false }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK))
        if n == 1, byte == 0x16 {
            startTLS()
            return true
        }
        return false
    }

    private func startHTTP2() {
        do {
            let session = try HTTP2Session(connection: self, config: server.configuration)
            phase = .http2(session)
            server.protocolChanged(self)
            let pending = sniffed
            sniffed.removeAll()
            pending.withUnsafeBytes { feed(session, $0) }
            if server.isDraining { session.sendShutdownNotice() }
        } catch {
            close()
        }
    }

    private func startHTTP1() {
        let session = HTTP1Session(connection: self, config: server.configuration)
        phase = .http1(session)
        server.protocolChanged(self)
        let pending = sniffed
        sniffed.removeAll()
        pending.withUnsafeBytes { session.receive($0) }
    }

    /// EOF from the client: whatever it asked and has not been answered is cancelled.
    private func peerClosed() {
        close()
    }

    // MARK: - Output

    /// Answer bytes not yet written to the socket.
    var unsentBytes: Int { output.count - outputOffset }

    /// Room for more answers: under the per-connection response queue bound.
    var acceptsOutput: Bool { unsentBytes <= server.configuration.maxResponseQueueBytes }

    func enqueue(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed else { return }
        if unsentBytes == 0 { lastWriteProgress = Sys.now() }
        output.append(contentsOf: bytes)
        server.unsent.add(bytes.count, ordering: .relaxed)
        flush()
    }

    func enqueue(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { enqueue($0) }
    }

    func flush() {
        while outputOffset < output.count, !isClosed {
            let remaining = output.count - outputOffset
            var written = 0
            let result: Int = output.withUnsafeBytes { buffer in
                let p = buffer.baseAddress! + outputOffset
                if let tls { return ctls_write(tls, p, remaining) }
                do {
                    switch try Sys.write(fd, p, remaining) {
                    case let .bytes(k): return k
                    case .wouldBlock: return Int(CTLS_WANT_WRITE)
                    case .endOfFile: return Int(CTLS_ERROR)
                    }
                } catch {
                    return Int(CTLS_ERROR)
                }
            }
            if result > 0 {
                written = result
                outputOffset += written
                lastWriteProgress = Sys.now()
                server.unsent.subtract(written, ordering: .relaxed)
            } else if result == Int(CTLS_WANT_WRITE) || result == Int(CTLS_WANT_READ) {
                break
            } else {
                close()
                return
            }
        }
        if outputOffset == output.count {
            output.removeAll(keepingCapacity: output.count < (1 << 20))
            outputOffset = 0
            if closeWhenFlushed {
                if case .http1 = phase, lingerUntil == nil {
                    closeWhenFlushed = false
                    lingerUntil = Sys.now() + 2_000_000_000
                    if let tls { ctls_shutdown(tls) }
                    _ = Glibc.shutdown(fd, Int32(SHUT_WR))
                } else {
                    close()
                    return
                }
            }
        } else if outputOffset > (1 << 20) {
            output.removeFirst(outputOffset)
            outputOffset = 0
        }
        if acceptsOutput, !refilling, !isClosed {
            refilling = true
            switch phase {
            case let .http1(session): session.outputDrained()
            case let .http2(session): session.flush()
            default: break
            }
            refilling = false
        }
        updateInterest()
    }

    /// A session started or stopped wanting input (HTTP/1.1 pauses reading while it answers).
    func inputInterestChanged() { updateInterest() }

    private func updateInterest() {
        guard !isClosed else { return }
        let pending = output.count - outputOffset
        let wantWrite = pending > 0
        var pause = !acceptsOutput
        if case let .http1(session) = phase, !session.wantsInput, lingerUntil == nil { pause = true }
        if wantWrite != watchingWrites || pause != readingPaused {
            watchingWrites = wantWrite
            let wasPaused = readingPaused
            readingPaused = pause
            var events = EPOLLRDHUP.rawValue
            if !pause { events |= EPOLLIN.rawValue }
            if wantWrite { events |= EPOLLOUT.rawValue }
            server.loop.modify(fd, events: events)
            if wasPaused && !pause { readAvailable() }
        }
    }

    /// Sends what is queued, then closes (after an error answer, or a final GOAWAY).
    func closeAfterFlush() {
        closeWhenFlushed = true
        flush()
    }

    func close() {
        if isClosed { return }
        let label = protocolLabel
        switch phase {
        case let .http1(session): session.cancelPending()
        case let .http2(session): session.cancelAll()
        default: break
        }
        phase = .closed
        server.unsent.subtract(unsentBytes, ordering: .relaxed)
        output = []
        outputOffset = 0
        if let tls {
            ctls_shutdown(tls)
            ctls_connection_free(tls)
            self.tls = nil
        }
        server.loop.unregister(fd)
        Glibc.close(fd)
        server.connectionClosed(self, label: label)
    }

    // MARK: - Responses and timers

    func respondHTTP2(streamID: Int32, _ response: HTTPResponse) {
        guard case let .http2(session) = phase else { return }
        session.respond(streamID: streamID, response)
        if server.isDraining, !session.hasOpenStreams { finishDraining() }
    }

    func respondHTTP1(sequence: UInt64, _ response: HTTPResponse) {
        guard case let .http1(session) = phase else { return }
        session.respond(sequence: sequence, response)
    }

    /// Graceful shutdown, step one: tell the client (HTTP/2 shutdown notice; HTTP/1.1 closes
    /// after its current answer) and close idle connections now.
    func beginDraining() {
        switch phase {
        case let .http2(session):
            session.sendShutdownNotice()
            if !session.hasOpenStreams { finishDraining() }
        case let .http1(session):
            if !session.awaitingResponse && session.isIdle { close() }
        default:
            close()
        }
    }

    func finishDraining() {
        guard case let .http2(session) = phase else { return }
        session.sendFinalGoAway()
        closeAfterFlush()
    }

    /// Called on every loop tick with the current time: enforces the idle, header and body timeouts.
    func checkTimeouts(now: UInt64) {
        let config = server.configuration
        func seconds(_ s: Double) -> UInt64 { UInt64(s * 1e9) }
        let quiet = now - lastActivity
        if let linger = lingerUntil {
            if now > linger { close() }
            return
        }
        if unsentBytes > 0, now - lastWriteProgress > seconds(config.sendTimeoutSeconds) {
            // A client that stopped reading its answers: nothing it asked can reach it.
            close()
            return
        }
        switch phase {
        case .sniffing, .tlsHandshake:
            if now - acceptedAt > seconds(config.headerTimeoutSeconds) { close() }
        case let .http1(session):
            session.checkTimeouts(now: now, quiet: quiet)
        case let .http2(session):
            session.checkRequestTimeouts(now: now)
            let stalled = now - session.lastFrameAt
            if lastActivity > session.lastFrameAt, stalled > seconds(config.headerTimeoutSeconds) {
                // Bytes keep coming but no frame completes: a dribbling client.
                session.sendFinalGoAway()
                closeAfterFlush()
            } else if session.hasIncompleteRequests {
                if quiet > seconds(config.bodyTimeoutSeconds) {
                    session.sendFinalGoAway()
                    closeAfterFlush()
                }
            } else if !session.hasOpenStreams, now - session.lastStreamEventAt > seconds(config.idleTimeoutSeconds) {
                // Measured from the last request, not the last frame: PINGs keep no slot.
                session.sendFinalGoAway()
                closeAfterFlush()
            }
        case .closed: break
        }
    }
}
