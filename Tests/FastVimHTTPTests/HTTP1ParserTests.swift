@testable import FastVimHTTP
import Testing

@Suite struct HTTP1ParserTests {
    static func one(_ text: String, limits: HTTP1Limits = .init()) -> Message? {
        let messages = parse(bytes(text), limits: limits).messages
        return messages.count == 1 ? messages[0] : nil
    }

    static func error(_ text: String, limits: HTTP1Limits = .init()) -> HTTP1ParseError? {
        parse(bytes(text), limits: limits).error
    }

    // MARK: - Happy paths

    @Test func simpleGet() throws {
        let m = try #require(Self.one("GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \r\n\r\n"))
        #expect(m.method == "GET")
        #expect(m.target == "/index.html?x=1")
        #expect(m.minor == 1)
        #expect(m.headers == ["host: example.com", "accept: */*"])
        #expect(m.keepAlive)
        #expect(!m.expectContinue)
        #expect(m.contentLength == nil)
        #expect(!m.chunked)
        #expect(m.body.isEmpty)
        #expect(m.ended)
    }

    @Test func endComesRightAfterHeadWithoutBody() throws {
        var parser = HTTP1Parser()
        let (consumed, events) = try parser.feed(bytes("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(consumed == 28)
        #expect(events.count == 2)
        guard case .head = events[0], case .end = events[1] else {
            Issue.record("expected head, end")
            return
        }
        #expect(parser.messageComplete)
    }

    @Test func contentLengthBody() throws {
        let m = try #require(Self.one("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"))
        #expect(m.contentLength == 11)
        #expect(m.body == bytes("hello world"))
        #expect(m.ended)
    }

    @Test func zeroContentLength() throws {
        let m = try #require(Self.one("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"))
        #expect(m.contentLength == 0)
        #expect(m.ended)
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let text = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6 ; x=\"q\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
        let m = try #require(Self.one(text))
        #expect(m.chunked)
        #expect(m.contentLength == nil)
        #expect(m.body == bytes("hello world0123456789"))
        #expect(m.ended)
        // Trailers are validated but not merged into the head.
        #expect(m.headers.count == 2)
    }

    @Test func chunkedCaseInsensitive() throws {
        let m = try #require(Self.one("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n"))
        #expect(m.chunked)
        #expect(m.body.isEmpty)
        #expect(m.ended)
    }

    @Test func chunkedFinalCRLFRequired() throws {
        let partial = parse(bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"))
        #expect(partial.messages.count == 1)
        #expect(partial.messages.first?.ended == false)
        #expect(Self.error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX") == nil)
        #expect(Self.error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX\r\n\r\n")?.status == 400)
    }

    @Test func leadingEmptyLinesAreSkipped() throws {
        let m = try #require(Self.one("\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(m.method == "GET")
        let endless = String(repeating: "\r\n", count: 5000)
        #expect(Self.error(endless)?.status == 400)
    }

    @Test func bareLFLineEndingsAccepted() throws {
        let m = try #require(Self.one("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"))
        #expect(m.body == bytes("abc"))
        #expect(m.ended)
    }

    @Test func http10() throws {
        let m = try #require(Self.one("GET / HTTP/1.0\r\n\r\n"))
        #expect(m.minor == 0)
        #expect(!m.keepAlive)
        let k = try #require(Self.one("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))
        #expect(k.keepAlive)
        #expect(Self.error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")?.status == 400)
    }

    @Test func keepAliveDecisions() throws {
        #expect(Self.one("GET / HTTP/1.1\r\nHost: a\r\n\r\n")?.keepAlive == true)
        #expect(Self.one("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")?.keepAlive == false)
        #expect(Self.one("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n")?.keepAlive == false)
        #expect(Self.one("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n")?.keepAlive == false)
        #expect(Self.one("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")?.keepAlive == true)
        #expect(Self.one("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")?.keepAlive == false)
    }

    @Test func expectHeader() throws {
        #expect(Self.one("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")?.expectContinue == true)
        #expect(Self.one("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n")?.expectContinue == true)
        #expect(Self.one("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")?.expectContinue == false)
        #expect(Self.error("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n") == .expectationFailed)
        #expect(Self.error("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n")?.status == 417)
    }

    @Test func headerLookup() throws {
        var parser = HTTP1Parser()
        let (_, events) = try parser.feed(bytes("GET / HTTP/1.1\r\nHost: a\r\nX-List: 1\r\nx-list: 2\r\nEmpty:\r\n\r\n"))
        guard case .head(let head) = events.first else {
            Issue.record("no head")
            return
        }
        #expect(head.header("HOST") == "a")
        #expect(head.header("x-list") == "1, 2")
        #expect(head.values("X-List") == ["1", "2"])
        #expect(head.header("empty") == "")
        #expect(head.header("missing") == nil)
    }

    // MARK: - Request line

    @Test func requestLineErrors() {
        let cases: [(String, Int)] = [
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
            ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /a\u{1} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /é HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
            ("GET /\r\nHost: a\r\n\r\n", 400),
            ("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/0.9\r\n\r\n", 505),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ]
        for (text, status) in cases {
            #expect(Self.error(text)?.status == status, "\(text.debugDescription)")
        }
    }

    @Test func http2PrefaceNeverCrashes() {
        let preface = bytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + [0, 0, 18, 4, 0, 0, 0, 0, 0]
        for cut in 0 ... preface.count {
            let outcome = parse(Array(preface[..<cut]))
            if let error = outcome.error { #expect(error == .versionNotSupported) } else { #expect(outcome.messages.isEmpty) }
        }
    }

    @Test func requestLineLimit() {
        let limits = HTTP1Limits(maxRequestLine: 64)
        let fits = "GET /" + String(repeating: "a", count: 64 - 14) + " HTTP/1.1"
        #expect(fits.utf8.count == 64)
        #expect(Self.one(fits + "\r\nHost: a\r\n\r\n", limits: limits) != nil)
        #expect(Self.one(fits + "\nHost: a\r\n\r\n", limits: limits) != nil)
        let long = "GET /" + String(repeating: "a", count: 64 - 13) + " HTTP/1.1"
        #expect(Self.error(long + "\r\nHost: a\r\n\r\n", limits: limits) == .uriTooLong)
        // Nothing that looks like a request line: garbage, not a long URI.
        #expect(Self.error(String(repeating: "x", count: 100), limits: limits)?.status == 400)
        #expect(Self.error("GET /" + String(repeating: "a", count: 100), limits: limits) == .uriTooLong)
        #expect(Self.error("GET / HTTP/1.1" + String(repeating: " ", count: 100), limits: limits)?.status == 400)
        // Default limit: an 8 KiB target is refused as soon as the limit is passed, without LF.
        let huge = "GET /" + String(repeating: "b", count: 10_000)
        #expect(Self.error(huge) == .uriTooLong)
    }

    // MARK: - Header fields

    @Test func headerErrors() {
        let cases: [(String, Int)] = [
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1B}b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: ab\r\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ]
        for (text, status) in cases {
            #expect(Self.error(text)?.status == status, "\(text.debugDescription)")
        }
        #expect(Self.error("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == .badRequest("whitespace before colon"))
        #expect(Self.error("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n") == .badRequest("obsolete line folding"))
    }

    @Test func headerValuesKeepTabsAndObsText() throws {
        let m = try #require(Self.one("GET / HTTP/1.1\r\nHost: a\r\nX: \t a\tb \t\r\nY: caf\u{E9}\r\n\r\n"))
        #expect(m.headers == ["host: a", "x: a\tb", "y: café"])
    }

    @Test func tooManyHeaders() {
        let hundred = (1 ..< 100).map { "X-\($0): v\r\n" }.joined()
        #expect(Self.one("GET / HTTP/1.1\r\nHost: a\r\n" + hundred + "\r\n")?.headers.count == 100)
        #expect(Self.error("GET / HTTP/1.1\r\nHost: a\r\n" + hundred + "X-100: v\r\n\r\n") == .headersTooLarge)
    }

    @Test func headerSectionLimit() {
        let limits = HTTP1Limits(maxHeaderBytes: 100)
        // "Host: a\r\n" (9) + "X: " + n + "\r\n" + final "\r\n" (2) = 100 when n = 84.
        let fits = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 84) + "\r\n\r\n"
        #expect(Self.one(fits, limits: limits) != nil)
        let over = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 85) + "\r\n\r\n"
        #expect(Self.error(over, limits: limits) == .headersTooLarge)
        let veryLongLine = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "z", count: 70_000) + "\r\n\r\n"
        #expect(Self.error(veryLongLine) == .headersTooLarge)
        // Refused before the line ends.
        #expect(Self.error("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "z", count: 70_000)) == .headersTooLarge)
    }

    @Test func trailerLimits() {
        let limits = HTTP1Limits(maxHeaderBytes: 64, maxHeaders: 2)
        let base = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(Self.one(base + "A: 1\r\nB: 2\r\n\r\n", limits: limits)?.ended == true)
        #expect(Self.error(base + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits) == .headersTooLarge)
        #expect(Self.error(base + "A: " + String(repeating: "1", count: 80) + "\r\n\r\n", limits: limits) == .headersTooLarge)
        #expect(Self.error(base + " folded\r\n\r\n", limits: limits)?.status == 400)
    }

    // MARK: - Framing

    @Test func contentLengthRules() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\n"
        #expect(Self.one(head + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc")?.body == bytes("abc"))
        #expect(Self.one(head + "Content-Length: 3, 3\r\n\r\nabc")?.body == bytes("abc"))
        #expect(Self.one(head + "Content-Length:   3  \r\n\r\nabc")?.body == bytes("abc"))
        #expect(Self.one(head + "Content-Length: 0003\r\n\r\nabc")?.body == bytes("abc"))
        for bad in ["+3", "-3", "3a", "0x3", "3 3", "", ",", "3.0", "１"] {
            #expect(Self.error(head + "Content-Length: \(bad)\r\n\r\nabc")?.status == 400, "\(bad)")
        }
        #expect(Self.error(head + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")?.status == 400)
        #expect(Self.error(head + "Content-Length: 3, 4\r\n\r\nabcd")?.status == 400)
        #expect(Self.error(head + "Content-Length: 99999999999999999999999999\r\n\r\n") == .bodyTooLarge)
        #expect(Self.error(head + "Content-Length: 9999999999999999999999999x\r\n\r\n")?.status == 400)
    }

    @Test func contentLengthOverLimitRefusedRightAfterHead() throws {
        var parser = HTTP1Parser(limits: HTTP1Limits(maxBody: 10))
        #expect(throws: HTTP1ParseError.bodyTooLarge) {
            try parser.feed(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"))
        }
    }

    @Test func transferEncodingRules() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\n"
        #expect(Self.error(head + "Transfer-Encoding: gzip\r\n\r\n") == .notImplemented("unsupported transfer coding"))
        #expect(Self.error(head + "Transfer-Encoding: gzip, chunked\r\n\r\n")?.status == 501)
        #expect(Self.error(head + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")?.status == 501)
        #expect(Self.error(head + "Transfer-Encoding: chunked, identity\r\n\r\n")?.status == 501)
        #expect(Self.error(head + "Transfer-Encoding: chunked, chunked\r\n\r\n")?.status == 400)
        #expect(Self.error(head + "Transfer-Encoding: \r\n\r\n")?.status == 400)
        #expect(Self.error(head + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n")?.status == 400)
        #expect(Self.error(head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")?.status == 400)
        #expect(Self.one(head + "Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n")?.chunked == true)
    }

    @Test func chunkSizeErrors() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        let cases: [(String, Int)] = [
            ("\r\n", 400),
            (";ext\r\n", 400),
            ("-1\r\n", 400),
            ("+1\r\nx\r\n0\r\n\r\n", 400),
            ("0x1\r\nx\r\n0\r\n\r\n", 400),
            ("g\r\n", 400),
            (" 1\r\nx\r\n0\r\n\r\n", 400),
            ("1 x\r\nx\r\n0\r\n\r\n", 400),
            ("1;a\u{1}\r\nx\r\n0\r\n\r\n", 400),
            ("00000000000000001\r\nx\r\n0\r\n\r\n", 400),
            ("ffffffffffffffff\r\n", 413),
            ("7fffffffffffffff\r\n", 413),
            ("1000001\r\n", 413),
            ("3\r\nabcd\r\n0\r\n\r\n", 400),
            ("3\r\nabc\r0\r\n\r\n", 400),
            ("1" + String(repeating: ";e", count: 5000) + "\r\n", 400),
        ]
        for (tail, status) in cases {
            #expect(Self.error(head + tail)?.status == status, "\(tail.debugDescription)")
        }
        #expect(Self.one(head + "0000000000000003\r\nabc\r\n0\r\n\r\n")?.body == bytes("abc"))
        #expect(Self.one(head + "3 \t;a=b;c\r\nabc\r\n00\r\n\r\n")?.body == bytes("abc"))
    }

    @Test func bodyOfExactlyMaxBody() throws {
        let max = 16 << 20
        let payload = [UInt8](repeating: 0x5A, count: max)
        let clHead = bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(max)\r\n\r\n")
        let cl = parse(clHead + payload, cuts: [clHead.count + 12345, clHead.count + 9_000_000])
        #expect(cl.messages.first?.body.count == max)
        #expect(cl.messages.first?.ended == true)
        #expect(parse(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(max + 1)\r\n\r\n")).error == .bodyTooLarge)

        let teHead = bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        let half = max / 2
        let chunked = teHead + bytes(String(half, radix: 16) + "\r\n") + payload[..<half] + bytes("\r\n")
            + bytes(String(max - half, radix: 16) + "\r\n") + payload[half...] + bytes("\r\n0\r\n\r\n")
        let te = parse(chunked)
        #expect(te.messages.first?.body.count == max)
        #expect(te.messages.first?.ended == true)
        let over = teHead + bytes(String(half, radix: 16) + "\r\n") + payload[..<half] + bytes("\r\n")
            + bytes(String(max - half + 1, radix: 16) + "\r\n")
        #expect(parse(over).error == .bodyTooLarge)
        // Tiny chunks add up too.
        let small = HTTP1Limits(maxBody: 10)
        let ten = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "1\r\nx\r\n", count: 10)
        #expect(Self.one(ten + "0\r\n\r\n", limits: small)?.body.count == 10)
        #expect(Self.error(ten + "1\r\nx\r\n0\r\n\r\n", limits: small) == .bodyTooLarge)
    }

    // MARK: - Connection behaviour

    @Test func pipelinedRequestsStopAtMessageEnd() throws {
        let first = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
        let second = "GET /b HTTP/1.1\r\nHost: a\r\n\r\n"
        let third = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        let all = bytes(first + second + third)
        var parser = HTTP1Parser()
        let r1 = try parser.feed(all)
        #expect(r1.consumed == first.utf8.count)
        #expect(r1.events.count == 3)
        // Until reset nothing more is consumed.
        let again = try parser.feed(Array(all[r1.consumed...]))
        #expect(again.consumed == 0 && again.events.isEmpty)
        parser.reset()
        let r2 = try parser.feed(Array(all[r1.consumed...]))
        #expect(r2.consumed == second.utf8.count)
        parser.reset()
        let r3 = try parser.feed(Array(all[(r1.consumed + r2.consumed)...]))
        #expect(r3.consumed == third.utf8.count)
        #expect(parser.messageComplete)

        let outcome = parse(all)
        #expect(outcome.messages.map(\.target) == ["/a", "/b", "/c"])
        #expect(outcome.messages.allSatisfy { $0.ended })
    }

    @Test func idleAndHeadCompleteFlags() throws {
        var parser = HTTP1Parser()
        #expect(parser.isIdle && !parser.headComplete)
        _ = try parser.feed(bytes("\r\n"))
        #expect(parser.isIdle)
        _ = try parser.feed(bytes("\r"))
        #expect(parser.isIdle)
        _ = try parser.feed(bytes("\nP"))
        #expect(!parser.isIdle && !parser.headComplete)
        _ = try parser.feed(bytes("OST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"))
        #expect(parser.headComplete && !parser.messageComplete)
        let (consumed, events) = try parser.feed(bytes("abcdef"))
        #expect(consumed == 3 && events.count == 2)
        #expect(parser.messageComplete)
        parser.reset()
        #expect(parser.isIdle && !parser.headComplete && !parser.messageComplete)
    }

    @Test func errorsAreStickyUntilReset() throws {
        var parser = HTTP1Parser()
        #expect(throws: HTTP1ParseError.versionNotSupported) { try parser.feed(bytes("GET / HTTP/3.0\r\n")) }
        #expect(throws: HTTP1ParseError.versionNotSupported) { try parser.feed(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) }
        parser.reset()
        let (_, events) = try parser.feed(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(events.count == 2)
    }

    @Test func errorStatusesAndMessages() {
        let all: [(HTTP1ParseError, Int)] = [
            (.badRequest("x"), 400), (.uriTooLong, 414), (.headersTooLarge, 431), (.bodyTooLarge, 413),
            (.notImplemented("y"), 501), (.versionNotSupported, 505), (.expectationFailed, 417),
        ]
        for (error, status) in all {
            #expect(error.status == status)
            #expect(!error.message.isEmpty)
        }
        #expect(HTTP1ParseError.badRequest("why").message == "why")
    }

    // MARK: - Splits and robustness

    static let corpus: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "\r\nGET /x?y=z HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\nhello world",
        "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nT: 1\r\n\r\n",
        "POST /a HTTP/1.1\nHost: a\nContent-Length: 2\n\nhiGET /b HTTP/1.1\r\nHost: b\r\n\r\n",
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nPOST /d HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nZ",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 70_000) + "\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab",
    ]

    @Test func byteByByteMatchesOneShot() {
        for text in Self.corpus {
            let input = bytes(text)
            let oneShot = parse(input)
            if case .inconsistent(let why) = oneShot { Issue.record("\(why) in \(text.prefix(60).debugDescription)") }
            let byByte = parse(input, cuts: Array(0 ..< input.count))
            #expect(byByte == oneShot, "\(text.prefix(60).debugDescription)")
        }
    }

    @Test func randomSplitsMatchOneShot() {
        var rng = SeededRandom(state: 7)
        for text in Self.corpus {
            let input = bytes(text)
            let oneShot = parse(input)
            for _ in 0 ..< 200 {
                let cuts = randomCuts(input.count, &rng)
                #expect(parse(input, cuts: cuts) == oneShot, "\(text.prefix(60).debugDescription) cuts \(cuts)")
            }
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SeededRandom(state: 2026)
        let alphabet = bytes("GETPOST /HTP1.0:\r\n\t ;chunkedContent-LengthTransfer-Encoding0123456789abcdefHost") + [0, 0x7F, 0xFF]
        for round in 0 ..< 5000 {
            let count = Int.random(in: 0 ... 300, using: &rng)
            let input: [UInt8] = (0 ..< count).map { _ in
                round.isMultiple(of: 2) ? UInt8.random(in: 0 ... 255, using: &rng) : alphabet.randomElement(using: &rng) ?? 0
            }
            let oneShot = parse(input, limits: HTTP1Limits(maxRequestLine: 64, maxHeaderBytes: 128, maxHeaders: 4, maxBody: 32))
            if case .inconsistent(let why) = oneShot { Issue.record("\(why): \(input)") }
            let split = parse(input, cuts: randomCuts(input.count, &rng), limits: HTTP1Limits(maxRequestLine: 64, maxHeaderBytes: 128, maxHeaders: 4, maxBody: 32))
            #expect(split == oneShot, "\(input)")
        }
    }

    @Test func mutatedRequestsNeverTrap() {
        var rng = SeededRandom(state: 99)
        let limits = HTTP1Limits(maxRequestLine: 128, maxHeaderBytes: 256, maxHeaders: 8, maxBody: 64)
        let seeds = Self.corpus.filter { $0.utf8.count < 400 }.map(bytes)
        let interesting = bytes("\r\n \t:;,0-fF") + [0, 0x7F, 0x80, 0xFF]
        var failures = 0
        for _ in 0 ..< 5000 {
            var input = seeds.randomElement(using: &rng) ?? []
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) where !input.isEmpty {
                let at = Int.random(in: 0 ..< input.count, using: &rng)
                let byte = Bool.random(using: &rng) ? UInt8.random(in: 0 ... 255, using: &rng) : interesting.randomElement(using: &rng) ?? 0
                switch Int.random(in: 0 ..< 4, using: &rng) {
                case 0: input[at] = byte
                case 1: input.insert(byte, at: at)
                case 2: input.remove(at: at)
                default: input.insert(contentsOf: input[at ..< min(input.count, at + 8)], at: at)
                }
            }
            let oneShot = parse(input, limits: limits)
            if case .inconsistent(let why) = oneShot { Issue.record("\(why): \(input)") }
            if oneShot.error != nil { failures += 1 }
            #expect(parse(input, cuts: randomCuts(input.count, &rng), limits: limits) == oneShot, "\(input)")
        }
        // Most mutations should break something, but not all.
        #expect(failures > 100 && failures < 5000)
    }

    @Test func hugeLimitsDoNotOverflow() throws {
        let limits = HTTP1Limits(maxRequestLine: .max, maxHeaderBytes: .max, maxHeaders: .max, maxBody: .max)
        #expect(Self.one("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", limits: limits)?.body == bytes("ab"))
        #expect(Self.error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", limits: limits) == .bodyTooLarge)
        #expect(Self.error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", limits: limits) == .bodyTooLarge)
        let zero = HTTP1Limits(maxRequestLine: 0, maxHeaderBytes: 0, maxHeaders: 0, maxBody: 0)
        #expect(Self.error("GET / HTTP/1.1\r\n\r\n", limits: zero) != nil)
    }
}
