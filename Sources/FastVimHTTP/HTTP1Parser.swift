/// A strict, incremental HTTP/1.1 request parser (RFC 9112) for the server side.
///
/// Pure: it never touches sockets or clocks, so every framing decision can be tested by
/// feeding bytes. It stops at the end of each message so the caller can answer before it
/// parses a pipelined successor, which keeps responses in request order.
public struct HTTP1Parser: Sendable {
    private enum State: Sendable, Equatable {
        case requestLine
        case headers
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailers
        case done
    }

    private enum LineStatus { case complete, needMore, overLimit }

    public let limits: HTTP1Limits
    private var state: State = .requestLine
    /// Raw bytes of the line being read, without its LF (a CR before the LF is still in it).
    private var line: [UInt8] = []
    /// Bytes of empty lines skipped before the request line; capped so CRLFs can't stall forever.
    private var skippedBytes = 0
    /// Header or trailer section bytes so far, line endings included.
    private var sectionBytes = 0
    private var sectionFields = 0
    private var head = HTTP1RequestHead(method: "", target: "")
    private var bodyTotal = 0
    /// Once framing is lost nothing after it can be parsed: every later feed repeats the error.
    private var failure: HTTP1ParseError?

    public init(limits: HTTP1Limits = .init()) {
        // Clamped so limit arithmetic (limit + 1, length * 10 + 9) can never overflow.
        let cap = Int.max / 32
        self.limits = HTTP1Limits(
            maxRequestLine: min(max(limits.maxRequestLine, 0), cap),
            maxHeaderBytes: min(max(limits.maxHeaderBytes, 0), cap),
            maxHeaders: max(limits.maxHeaders, 0),
            maxBody: min(max(limits.maxBody, 0), cap))
        line.reserveCapacity(256)
    }

    /// No byte of a request seen yet (empty lines between requests don't count), so the caller
    /// applies its idle timeout rather than its header-read timeout.
    public var isIdle: Bool {
        state == .requestLine && line.allSatisfy { $0 == Self.cr }
    }

    /// The head event has been produced for the current message.
    public var headComplete: Bool {
        switch state {
        case .requestLine, .headers: false
        default: true
        }
    }

    /// The current message is complete; `feed` consumes nothing more until `reset()`.
    public var messageComplete: Bool { state == .done }

    /// The request target of the message being parsed, once its request line was read
    /// (also after an error in its headers): lets the caller label a refusal by route.
    public var currentTarget: String? { head.target.isEmpty ? nil : head.target }

    /// Ready for the next request on a keep-alive connection.
    public mutating func reset() {
        state = .requestLine
        line.removeAll(keepingCapacity: true)
        skippedBytes = 0
        sectionBytes = 0
        sectionFields = 0
        head = HTTP1RequestHead(method: "", target: "")
        bodyTotal = 0
        failure = nil
    }

    /// Consumes bytes until one request message is complete (then stops: pipelined bytes after
    /// it are not consumed, so the caller can respond first and call `reset()`), or until input
    /// runs out. After a throw the connection must answer `error.status` and close.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (consumed: Int, events: [HTTP1Event]) {
        if let failure { throw failure }
        var events: [HTTP1Event] = []
        var index = 0
        do {
            try run(bytes, &index, &events)
        } catch {
            failure = error
            throw error
        }
        return (index, events)
    }

    /// Convenience for callers holding an array.
    public mutating func feed(_ bytes: [UInt8]) throws(HTTP1ParseError) -> (consumed: Int, events: [HTTP1Event]) {
        var result: Result<(consumed: Int, events: [HTTP1Event]), HTTP1ParseError> = .success((0, []))
        bytes.withUnsafeBytes { raw in
            do throws(HTTP1ParseError) {
                result = .success(try feed(raw))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: - State machine

    private mutating func run(_ p: UnsafeRawBufferPointer, _ i: inout Int, _ events: inout [HTTP1Event]) throws(HTTP1ParseError) {
        let end = p.count
        while true {
            switch state {
            case .done:
                return

            case .requestLine:
                guard i < end else { return }
                switch readLine(p, &i, maxRaw: limits.maxRequestLine + 1) {
                case .needMore: return
                case .overLimit: throw overlongRequestLine()
                case .complete:
                    let raw = line.count + 1
                    let content = try takeLine()
                    if content.isEmpty {
                        skippedBytes += raw
                        if skippedBytes > limits.maxRequestLine { throw .badRequest("too many empty lines before request") }
                        continue
                    }
                    if content.count > limits.maxRequestLine {
                        line = content
                        throw overlongRequestLine()
                    }
                    try parseRequestLine(content)
                    sectionBytes = 0
                    sectionFields = 0
                    state = .headers
                }

            case .headers, .trailers:
                let trailer = state == .trailers
                guard i < end else { return }
                switch readLine(p, &i, maxRaw: limits.maxHeaderBytes - sectionBytes - 1) {
                case .needMore: return
                case .overLimit: throw .headersTooLarge
                case .complete:
                    sectionBytes += line.count + 1
                    let content = try takeLine()
                    if content.isEmpty {
                        if trailer {
                            state = .done
                            events.append(.end)
                            return
                        }
                        try finishHead(&events)
                        continue
                    }
                    if sectionFields >= limits.maxHeaders { throw .headersTooLarge }
                    sectionFields += 1
                    let field = try Self.parseField(content)
                    if !trailer { head.headers.append(field) }
                }

            case .body(let remaining):
                if remaining == 0 {
                    state = .done
                    events.append(.end)
                    return
                }
                guard i < end else { return }
                let n = min(remaining, end - i)
                events.append(.body(Array(UnsafeRawBufferPointer(rebasing: p[i ..< i + n]))))
                i += n
                state = .body(remaining: remaining - n)

            case .chunkSize:
                guard i < end else { return }
                switch readLine(p, &i, maxRaw: limits.maxRequestLine + 1) {
                case .needMore: return
                case .overLimit: throw .badRequest("chunk size line too long")
                case .complete:
                    let size = try parseChunkSize(try takeLine())
                    if size == 0 {
                        sectionBytes = 0
                        sectionFields = 0
                        state = .trailers
                    } else {
                        state = .chunkData(remaining: size)
                    }
                }

            case .chunkData(let remaining):
                guard i < end else { return }
                let n = min(remaining, end - i)
                events.append(.body(Array(UnsafeRawBufferPointer(rebasing: p[i ..< i + n]))))
                i += n
                state = remaining == n ? .chunkDataCR : .chunkData(remaining: remaining - n)

            case .chunkDataCR:
                guard i < end else { return }
                let byte = p[i]
                i += 1
                if byte == Self.cr {
                    state = .chunkDataLF
                } else if byte == Self.lf {
                    state = .chunkSize
                } else {
                    throw .badRequest("chunk data longer than its size")
                }

            case .chunkDataLF:
                guard i < end else { return }
                let byte = p[i]
                i += 1
                guard byte == Self.lf else { throw .badRequest("bare CR") }
                state = .chunkSize
            }
        }
    }

    /// Appends input up to the next LF to `line`, never letting `line` exceed `maxRaw` bytes, so
    /// a peer that never sends LF costs at most the limit in memory. Splitting the input anywhere
    /// gives the same outcome, because the limit is checked against the accumulated line.
    private mutating func readLine(_ p: UnsafeRawBufferPointer, _ i: inout Int, maxRaw: Int) -> LineStatus {
        let room = maxRaw - line.count
        guard room >= 0 else { return .overLimit }
        let scanEnd = room >= p.count - i ? p.count : i + room + 1
        var j = i
        while j < scanEnd, p[j] != Self.lf { j += 1 }
        if j < scanEnd {
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i ..< j]))
            i = j + 1
            return .complete
        }
        if j - i > room {
            // Kept (up to the limit) so the caller can tell what the over-long line was.
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i ..< i + room]))
            i += room
            return .overLimit
        }
        line.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i ..< j]))
        i = j
        return .needMore
    }

    /// Hands back the completed line without its line ending and empties the buffer. A CR
    /// anywhere else is refused: parsers that disagree about bare CR are how requests get smuggled.
    private mutating func takeLine() throws(HTTP1ParseError) -> [UInt8] {
        var content = line
        line.removeAll(keepingCapacity: true)
        if content.last == Self.cr { content.removeLast() }
        if content.contains(Self.cr) { throw .badRequest("bare CR") }
        return content
    }

    /// 414 only when the line really is a request line whose target runs past the limit;
    /// anything else that long is just garbage.
    private func overlongRequestLine() -> HTTP1ParseError {
        var k = line.firstIndex(where: { $0 != Self.cr }) ?? line.count
        let methodStart = k
        while k < line.count, Self.isTokenByte(line[k]) { k += 1 }
        guard k > methodStart, k < line.count, line[k] == Self.sp else { return .badRequest("request line too long") }
        let rest = line[(k + 1)...]
        guard let space = rest.firstIndex(of: Self.sp) else { return rest.isEmpty ? .badRequest("request line too long") : .uriTooLong }
        // A target followed by something no longer than a version: the target made it long.
        let tail = line[(space + 1)...].filter { $0 != Self.cr }
        guard space > rest.startIndex, tail.count <= 8, !tail.contains(Self.sp) else { return .badRequest("request line too long") }
        return .uriTooLong
    }

    // MARK: - Request line and fields

    private mutating func parseRequestLine(_ content: [UInt8]) throws(HTTP1ParseError) {
        let parts = content.split(separator: Self.sp, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .badRequest("malformed request line") }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(Self.isTokenByte) else { throw .badRequest("invalid method") }
        // Origin, absolute, authority and asterisk forms are all visible ASCII.
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .badRequest("invalid request target") }
        let v = Array(version)
        guard v.count == 8, v[0 ..< 5].elementsEqual("HTTP/".utf8), Self.isDigit(v[5]), v[6] == UInt8(ascii: "."), Self.isDigit(v[7]) else {
            throw .badRequest("malformed HTTP version")
        }
        guard v[5] == UInt8(ascii: "1"), v[7] == UInt8(ascii: "0") || v[7] == UInt8(ascii: "1") else { throw .versionNotSupported }
        head = HTTP1RequestHead(
            method: String(decoding: method, as: UTF8.self),
            target: String(decoding: target, as: UTF8.self),
            versionMinor: Int(v[7] - UInt8(ascii: "0")))
    }

    static func parseField(_ content: [UInt8]) throws(HTTP1ParseError) -> (name: String, value: String) {
        guard let first = content.first else { throw .badRequest("empty header line") }
        if first == sp || first == htab { throw .badRequest("obsolete line folding") }
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else { throw .badRequest("header line without colon") }
        let name = content[..<colon]
        guard !name.isEmpty else { throw .badRequest("empty header name") }
        for byte in name where !isTokenByte(byte) {
            throw .badRequest(byte == sp || byte == htab ? "whitespace before colon" : "invalid header name")
        }
        var lo = colon + 1, hi = content.count
        while lo < hi, content[lo] == sp || content[lo] == htab { lo += 1 }
        while hi > lo, content[hi - 1] == sp || content[hi - 1] == htab { hi -= 1 }
        let value = content[lo ..< hi]
        // Field values are visible characters, SP, HTAB and obs-text; NUL and other controls
        // have been used to truncate headers in downstream C code.
        guard value.allSatisfy({ $0 == htab || ($0 >= 0x20 && $0 != 0x7F) }) else { throw .badRequest("control character in header value") }
        let lowered = name.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        return (String(decoding: lowered, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// Makes every framing and connection decision once, from the whole header section.
    private mutating func finishHead(_ events: inout [HTTP1Event]) throws(HTTP1ParseError) {
        var hosts = 0
        var lengths: [Substring] = []
        var codings: [Substring] = []
        var sawTransferEncoding = false
        var connection: [Substring] = []
        var expectations: [Substring] = []
        for (name, value) in head.headers {
            switch name {
            case "host": hosts += 1
            case "content-length": lengths += Self.listElements(value)
            case "transfer-encoding":
                sawTransferEncoding = true
                codings += Self.listElements(value)
            case "connection": connection += Self.listElements(value)
            case "expect": expectations += Self.listElements(value)
            default: break
            }
        }
        let http11 = head.versionMinor == 1
        if http11, hosts == 0 { throw .badRequest("missing Host header") }
        if hosts > 1 { throw .badRequest("multiple Host headers") }

        var contentLength: Int?
        if head.values("content-length").count > 0 {
            guard let firstLength = lengths.first else { throw .badRequest("empty Content-Length") }
            for length in lengths where length != firstLength { throw .badRequest("conflicting Content-Length values") }
            contentLength = try Self.parseContentLength(firstLength, maxBody: limits.maxBody)
        }

        var chunked = false
        if sawTransferEncoding {
            // A body framed two ways is read differently by different parsers: the classic
            // request-smuggling setup, so neither wins.
            if contentLength != nil { throw .badRequest("both Transfer-Encoding and Content-Length") }
            if !http11 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            guard !codings.isEmpty else { throw .badRequest("empty Transfer-Encoding") }
            for coding in codings where !Self.equalsIgnoringCase(coding, "chunked") {
                throw .notImplemented("unsupported transfer coding")
            }
            if codings.count > 1 { throw .badRequest("chunked applied more than once") }
            chunked = true
        }

        var expectContinue = false
        for expectation in expectations {
            guard Self.equalsIgnoringCase(expectation, "100-continue") else { throw .expectationFailed }
            // RFC 9110 §10.1.1: an HTTP/1.0 client cannot understand 100 Continue.
            expectContinue = http11
        }

        let close = connection.contains { Self.equalsIgnoringCase($0, "close") }
        let keepAliveToken = connection.contains { Self.equalsIgnoringCase($0, "keep-alive") }
        head.keepAlive = !close && (http11 || keepAliveToken)
        head.expectContinue = expectContinue
        head.contentLength = contentLength
        head.chunked = chunked
        events.append(.head(head))
        bodyTotal = 0
        state = chunked ? .chunkSize : .body(remaining: contentLength ?? 0)
    }

    /// Digits only: signs, spaces inside and hex are how length disagreements between parsers start.
    /// Values too big for the limit are 413 even when they would overflow an Int.
    static func parseContentLength(_ text: Substring, maxBody: Int) throws(HTTP1ParseError) -> Int {
        var value = 0
        for byte in text.utf8 {
            guard isDigit(byte) else { throw .badRequest("invalid Content-Length") }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            if value > maxBody {
                guard text.utf8.allSatisfy(isDigit) else { throw .badRequest("invalid Content-Length") }
                throw .bodyTooLarge
            }
        }
        return value
    }

    private mutating func parseChunkSize(_ content: [UInt8]) throws(HTTP1ParseError) -> Int {
        var size: UInt64 = 0
        var digits = 0
        var k = 0
        while k < content.count, let digit = Self.hexValue(content[k]) {
            digits += 1
            if digits > 16 { throw .badRequest("chunk size too long") }
            size = size << 4 | UInt64(digit)
            k += 1
        }
        guard digits > 0 else { throw .badRequest("invalid chunk size") }
        while k < content.count, content[k] == Self.sp || content[k] == Self.htab { k += 1 }
        if k < content.count {
            // Extensions carry nothing we use; they only need to be well-formed enough to skip.
            guard content[k] == UInt8(ascii: ";") else { throw .badRequest("invalid chunk size") }
            guard content[k...].allSatisfy({ $0 == Self.htab || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw .badRequest("control character in chunk extension")
            }
        }
        guard size <= UInt64(limits.maxBody - bodyTotal) else { throw .bodyTooLarge }
        bodyTotal += Int(size)
        return Int(size)
    }

    // MARK: - Bytes

    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let sp = UInt8(ascii: " ")
    static let htab = UInt8(ascii: "\t")

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30 ... 0x39: b - 0x30
        case 0x41 ... 0x46: b - 0x41 + 10
        case 0x61 ... 0x66: b - 0x61 + 10
        default: nil
        }
    }

    /// tchar of RFC 9110 §5.6.2.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30 ... 0x39, 0x41 ... 0x5A, 0x61 ... 0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// Comma-separated list elements with surrounding whitespace removed and empty elements
    /// dropped (RFC 9110 §5.6.1).
    static func listElements(_ value: String) -> [Substring] {
        value.split(separator: ",", omittingEmptySubsequences: true)
            .map { $0.trimmingOWS() }
            .filter { !$0.isEmpty }
    }

    static func equalsIgnoringCase(_ a: Substring, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { x, y in
            (x >= 0x41 && x <= 0x5A ? x | 0x20 : x) == (y >= 0x41 && y <= 0x5A ? y | 0x20 : y)
        }
    }
}
