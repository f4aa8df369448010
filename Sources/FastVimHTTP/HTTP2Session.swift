#if canImport(Glibc)
import Glibc
#endif
import CNGHTTP2

/// One HTTP/2 connection's protocol state: an nghttp2 server session fed from our socket
/// buffers (mem_recv / mem_send), requests gathered per stream, responses submitted when
/// the application answers (deferred data providers).
final class HTTP2Session {
    final class Stream {
        let id: Int32
        var method = ""
        var path = ""
        var headers: [(name: String, value: String)] = []
        var headerBytes = 0
        var body: [UInt8] = []
        let reservation: BodyReservation
        let startedAt = Sys.now()
        /// Set when the request broke a limit: answered with it once it ends.
        var refusal: HTTPRefusal?
        /// Body bytes received and thrown away after a refusal.
        var discarded = 0
        var responder: HTTPResponder?
        var summary: RequestSummary?
        var response: [UInt8] = []
        var responseOffset = 0

        init(id: Int32, budget: BodyBudget) {
            self.id = id
            reservation = BodyReservation(budget)
        }
    }

    unowned let connection: Connection
    private(set) var session: OpaquePointer?
    private var streams: [Int32: Stream] = [:]
    private let config: HTTPServerConfiguration
    /// Streams whose request is complete and whose response is not yet submitted.
    private(set) var pendingResponses = 0
    private var sentShutdownNotice = false
    /// When the last complete frame arrived: a client that keeps sending bytes without
    /// completing frames (slowloris over HTTP/2) is measured from here.
    private(set) var lastFrameAt = Sys.now()
    /// When a request last began, sent data, ended or was answered: the idle timeout counts
    /// from here, so a client that only PINGs does not hold its connection forever.
    private(set) var lastStreamEventAt = Sys.now()

    init(connection: Connection, config: HTTPServerConfiguration) throws(SystemError) {
        self.connection = connection
        self.config = config
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw SystemError(call: "nghttp2_session_callbacks_new", code: ENOMEM)
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, h2OnBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, h2OnHeader)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, h2OnDataChunk)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, h2OnFrameRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, h2OnStreamClose)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { throw SystemError(call: "nghttp2_option_new", code: ENOMEM) }
        defer { nghttp2_option_del(option) }
        // Rapid Reset (CVE-2023-44487) and CONTINUATION floods: nghttp2's own limits.
        nghttp2_option_set_stream_reset_rate_limit(option, UInt64(config.streamResetBurst), UInt64(config.streamResetRatePerSecond))
        nghttp2_option_set_max_continuations(option, 16)
        nghttp2_option_set_max_send_header_block_length(option, 64 << 10)
        nghttp2_option_set_max_settings(option, 32)
        nghttp2_option_set_max_outbound_ack(option, 1000)

        let me = Unmanaged.passUnretained(self).toOpaque()
        var s: OpaquePointer?
        guard nghttp2_session_server_new2(&s, callbacks, me, option) == 0, let s else {
            throw SystemError(call: "nghttp2_session_server_new2", code: ENOMEM)
        }
        session = s
        // Our SETTINGS first: streams in flight, and windows large enough for multi-MB uploads.
        let window: UInt32 = 16 << 20
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: UInt32(config.maxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: window),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(config.maxHeaderBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: 1 << 20),
        ]
        guard nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count) == 0,
              nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(64 << 20)) == 0
        else { throw SystemError(call: "nghttp2_submit_settings", code: EINVAL) }
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    /// Feeds received bytes; false when the session is broken and the connection must close.
    func receive(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let session, let base = bytes.baseAddress else { return false }
        let n = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if n < 0 {
            // Protocol errors: nghttp2 has queued a GOAWAY where it could; flush it, then close.
            if n != Int(NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue) { _ = flush() }
            return false
        }
        return flush()
    }

    /// Moves whatever nghttp2 wants to send into the connection's output.
    @discardableResult
    func flush() -> Bool {
        guard let session else { return false }
        // Past the response queue bound nothing more is produced until the client reads;
        // the connection calls back here when its output drains.
        while connection.acceptsOutput {
            var data: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { return false }
            if n == 0 { break }
            connection.enqueue(UnsafeRawBufferPointer(start: data, count: n))
        }
        return true
    }

    /// Nothing more to do on either side: the connection can close.
    var isFinished: Bool {
        guard let session else { return true }
        return nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    var hasOpenStreams: Bool { !streams.isEmpty }

    /// Streams whose request has not fully arrived (the body timeout watches these).
    var hasIncompleteRequests: Bool { streams.values.contains { $0.responder == nil && $0.refusal == nil } }

    // MARK: - Shutdown

    func sendShutdownNotice() {
        guard let session, !sentShutdownNotice else { return }
        sentShutdownNotice = true
        _ = nghttp2_submit_shutdown_notice(session)
        flush()
    }

    /// The final GOAWAY: streams already begun complete, no new ones are accepted.
    func sendFinalGoAway(error: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        guard let session else { return }
        let last = nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, error, nil, 0)
        flush()
    }

    /// The connection is going away: every unanswered request's client is gone.
    func cancelAll() {
        for s in streams.values {
            s.responder?.cancel()
            s.reservation.release()
        }
        streams.removeAll()
    }

    /// Requests still arriving past the request timeout are answered 408 (and the rest of
    /// their upload dropped), however steadily their bytes trickle in.
    func checkRequestTimeouts(now: UInt64) {
        let limit = UInt64(config.requestTimeoutSeconds * 1e9)
        for s in streams.values where s.responder == nil && s.refusal == nil && s.summary == nil && now - s.startedAt > limit {
            s.refusal = .receiveTimeout("request not received within \(Int(config.requestTimeoutSeconds)) s")
            requestComplete(s)
        }
    }

    // MARK: - Responses

    func respond(streamID: Int32, _ response: HTTPResponse) {
        guard let session, let stream = streams[streamID] else { return }
        lastStreamEventAt = Sys.now()
        pendingResponses -= stream.responder != nil ? 1 : 0
        let head = stream.method == "HEAD"
        if let summary = stream.summary { connection.server.log(summary, status: response.status, bytes: response.body.count) }
        stream.responder = nil
        stream.response = head ? [] : response.body
        stream.responseOffset = 0
        var fields: [(String, String)] = [(":status", String(response.status))]
        for (name, value) in response.headers {
            let lower = name.lowercased()
            // Connection-specific fields are forbidden in HTTP/2.
            if ["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"].contains(lower) { continue }
            fields.append((lower, value))
        }
        if response.status != 204 && response.status != 304 { fields.append(("content-length", String(response.body.count))) }
        var provider = nghttp2_data_provider()
        provider.read_callback = h2ReadResponse
        let hasBody = !stream.response.isEmpty
        let rv = withNameValues(fields) { nva, count in
            hasBody ? nghttp2_submit_response(session, streamID, nva, count, &provider)
                : nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        if rv != 0 { _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_INTERNAL_ERROR.rawValue) }
        flush()
    }


    /// Builds nghttp2's name/value array over one contiguous copy of the strings; nghttp2
    /// copies them during the submit call, so the buffer only lives for `body`.
    private func withNameValues(_ fields: [(String, String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        var bytes: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        for (n, v) in fields {
            let nameStart = bytes.count
            bytes += Array(n.utf8)
            let valueStart = bytes.count
            bytes += Array(v.utf8)
            spans.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
        }
        return bytes.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let nva = spans.map { s in
                nghttp2_nv(name: base + s.0, value: base + s.2, namelen: s.1, valuelen: s.3,
                           flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }

    // MARK: - nghttp2 events (called from the C callbacks below)

    fileprivate func frameReceived() {
        lastFrameAt = Sys.now()
    }

    fileprivate func beginHeaders(_ id: Int32) {
        streams[id] = Stream(id: id, budget: connection.server.bodyBudget)
        lastStreamEventAt = Sys.now()
    }

    fileprivate func header(_ id: Int32, name: String, value: String) {
        guard let s = streams[id], s.refusal == nil else { return }
        s.headerBytes += name.utf8.count + value.utf8.count + 32
        if s.headerBytes > config.maxHeaderBytes {
            s.refusal = .protocolError(.headersTooLarge)
            s.headers.removeAll()
            return
        }
        switch name {
        case ":method": s.method = value
        case ":path": s.path = value
        case ":authority": s.headers.append((name: "host", value: value))
        default:
            if !name.hasPrefix(":") { s.headers.append((name: name, value: value)) }
        }
    }

    fileprivate func data(_ id: Int32, _ chunk: UnsafeRawBufferPointer) {
        guard let s = streams[id] else { return }
        lastStreamEventAt = Sys.now()
        if s.refusal != nil {
            // Clients (curl among them) read the 413 only after they finish sending, so the
            // rest of the upload is read and dropped; past another body's worth, the stream
            // is reset so a client cannot stream forever.
            s.discarded += chunk.count
            if s.discarded > config.maxBodyBytes, let session {
                _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, NGHTTP2_CANCEL.rawValue)
            }
            return
        }
        if s.body.count + chunk.count > config.maxBodyBytes || !s.reservation.grow(chunk.count) {
            s.refusal = s.body.count + chunk.count > config.maxBodyBytes
                ? .protocolError(.bodyTooLarge) : .bodyBudget(config.maxBufferedBodyBytes)
            s.body = []
            s.reservation.release()
            // Answer at once rather than read megabytes we will throw away.
            requestComplete(s)
            return
        }
        s.body.append(contentsOf: chunk)
    }

    fileprivate func endOfRequest(_ id: Int32) {
        lastStreamEventAt = Sys.now()
        guard let s = streams[id], s.responder == nil, s.summary == nil else { return }
        requestComplete(s)
    }

    private func requestComplete(_ s: Stream) {
        guard s.summary == nil else { return }
        let summary = RequestSummary(protocolName: "HTTP/2", method: s.method, target: s.path, startedAt: Sys.now())
        s.summary = summary
        let id = s.id
        let responder = connection.server.responder(connection: connection.id) { c, response in
            c.respondHTTP2(streamID: id, response)
        }
        s.responder = responder
        pendingResponses += 1
        if let refusal = s.refusal {
            s.reservation.release()
            connection.server.refuse(refusal, (try? RequestTarget(parsing: s.path))?.path ?? "", responder)
            return
        }
        connection.server.dispatch(method: s.method, target: s.path, headers: s.headers, body: s.body, reservation: s.reservation,
                                   protocolName: "HTTP/2", connection: connection, responder: responder)
        s.body = []
    }

    fileprivate func streamClosed(_ id: Int32) {
        lastStreamEventAt = Sys.now()
        guard let s = streams.removeValue(forKey: id) else { return }
        if s.summary == nil { s.reservation.release() }
        if let responder = s.responder {
            pendingResponses -= 1
            responder.cancel()
        }
    }

    fileprivate func readResponse(_ id: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int,
                                  flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let s = streams[id] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let n = min(length, s.response.count - s.responseOffset)
        if n > 0 {
            s.response.withUnsafeBufferPointer { src in
                buffer.update(from: src.baseAddress! + s.responseOffset, count: n)
            }
            s.responseOffset += n
        }
        if s.responseOffset >= s.response.count {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            s.response = []
        }
        return n
    }
}

// The C callbacks: each recovers the session from user_data and never lets an error cross into C.

private func h2Session(_ user: UnsafeMutableRawPointer?) -> HTTP2Session {
    Unmanaged<HTTP2Session>.fromOpaque(user!).takeUnretainedValue()
}

private let h2OnBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, user in
    guard let frame else { return 0 }
    if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
       frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
        h2Session(user).beginHeaders(frame.pointee.hd.stream_id)
    }
    return 0
}

private let h2OnHeader: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, user in
    guard let frame, let name, let value else { return 0 }
    guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
    let n = String(decoding: UnsafeBufferPointer(start: name, count: namelen), as: UTF8.self)
    let v = String(decoding: UnsafeBufferPointer(start: value, count: valuelen), as: UTF8.self)
    h2Session(user).header(frame.pointee.hd.stream_id, name: n, value: v)
    return 0
}

private let h2OnDataChunk: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, len, user in
    guard let data else { return 0 }
    h2Session(user).data(streamID, UnsafeRawBufferPointer(start: data, count: len))
    return 0
}

private let h2OnFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, user in
    guard let frame else { return 0 }
    h2Session(user).frameReceived()
    let type = frame.pointee.hd.type
    let endStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    if endStream && (type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue)) {
        h2Session(user).endOfRequest(frame.pointee.hd.stream_id)
    }
    return 0
}

private let h2OnStreamClose: nghttp2_on_stream_close_callback = { _, streamID, _, user in
    h2Session(user).streamClosed(streamID)
    return 0
}

private let h2ReadResponse: nghttp2_data_source_read_callback = { _, streamID, buffer, length, flags, _, user in
    guard let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
    return h2Session(user).readResponse(streamID, into: buffer, length: length, flags: flags)
}
