@testable import FastVimHTTP
import Testing

@Suite struct MultipartFormDataTests {
    /// Captured from `curl 7.88.1 -F 'name=value' -F 'file=@upload.bin;type=application/octet-stream'
    /// -F 'quote="a b";type=text/plain'`, byte for byte.
    static let curlRequest: [UInt8] = bytes(
        "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:18999\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nContent-Length: 450\r\n"
            + "Content-Type: multipart/form-data; boundary=------------------------4ba3898ad1518dea\r\n\r\n"
            + "--------------------------4ba3898ad1518dea\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nvalue\r\n"
            + "--------------------------4ba3898ad1518dea\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.bin\"\r\n"
            + "Content-Type: application/octet-stream\r\n\r\nhello\r\n--not a boundary\r\n")
        + [0x00, 0xFF]
        + bytes("\r\n--------------------------4ba3898ad1518dea\r\nContent-Disposition: form-data; name=\"quote\"\r\n"
            + "Content-Type: text/plain\r\n\r\na b\r\n--------------------------4ba3898ad1518dea--\r\n")

    @Test func curlUploadThroughTheHTTPParser() throws {
        let message = try #require(parse(Self.curlRequest).messages.first)
        #expect(message.ended)
        #expect(message.body.count == 450)
        let contentType = try #require(message.headers.first { $0.hasPrefix("content-type: ") }?.dropFirst(14))
        let boundary = try MultipartFormData.boundary(contentType: String(contentType))
        #expect(boundary == "------------------------4ba3898ad1518dea")
        let parts = try MultipartFormData.parse(message.body, boundary: boundary)
        try #require(parts.count == 3)
        #expect(parts[0].name == "name" && parts[0].filename == nil && parts[0].contentType == nil)
        #expect(parts[0].body == bytes("value"))
        #expect(parts[1].name == "file" && parts[1].filename == "upload.bin")
        #expect(parts[1].contentType == "application/octet-stream")
        #expect(parts[1].body == bytes("hello\r\n--not a boundary\r\n") + [0x00, 0xFF])
        #expect(parts[1].headers.map { $0.name } == ["content-disposition", "content-type"])
        #expect(parts[2].name == "quote" && parts[2].contentType == "text/plain" && parts[2].body == bytes("a b"))
    }

    @Test func boundaryFromContentType() throws {
        #expect(try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(try MultipartFormData.boundary(contentType: "Multipart/Form-Data;BOUNDARY=\"a b:c\"") == "a b:c")
        #expect(try MultipartFormData.boundary(contentType: "multipart/form-data; charset=utf-8; boundary=\"x'\\(y\"") == "x'(y")
        #expect(try MultipartFormData.boundary(contentType: "multipart/form-data ; boundary = abc ;") == "abc")
        #expect(throws: MultipartError.notMultipart) { try MultipartFormData.boundary(contentType: "application/json") }
        #expect(throws: MultipartError.notMultipart) { try MultipartFormData.boundary(contentType: "multipart/mixed; boundary=a") }
        #expect(throws: MultipartError.missingBoundary) { try MultipartFormData.boundary(contentType: "multipart/form-data") }
        #expect(throws: MultipartError.missingBoundary) { try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=\"\"") }
        #expect(throws: MultipartError.self) { try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=\"abc") }
        #expect(throws: MultipartError.self) { try MultipartFormData.boundary(contentType: "multipart/form-data; boundary") }
        let seventy = String(repeating: "b", count: 70)
        #expect(try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=\(seventy)") == seventy)
        #expect(throws: MultipartError.self) { try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=\(seventy)b") }
        #expect(throws: MultipartError.self) { try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=\"ab \"") }
        #expect(throws: MultipartError.self) { try MultipartFormData.boundary(contentType: "multipart/form-data; boundary=a@b") }
    }

    static func body(_ boundary: String, _ parts: [(headers: String, body: [UInt8])], preamble: String = "", epilogue: String = "") -> [UInt8] {
        var out = bytes(preamble)
        for (k, part) in parts.enumerated() {
            out += bytes((k == 0 && preamble.isEmpty ? "" : "\r\n") + "--\(boundary)\r\n" + part.headers + "\r\n")
            out += part.body
        }
        out += bytes((parts.isEmpty && preamble.isEmpty ? "" : "\r\n") + "--\(boundary)--" + epilogue)
        return out
    }

    @Test func binaryBodiesWithLookalikes() throws {
        let boundary = "XyZ"
        let tricky: [[UInt8]] = [
            bytes("\r\n--XyZ-\r\n"),  // "-" then CRLF: neither a close delimiter nor padding
            bytes("\r\n--Xy\r\n--XyZa\r\n\r\n--xyz\r\n"),
            bytes("--XyZ\r\n--XyZ-"),  // a delimiter needs the CRLF before it, and "--XyZ-" is no close
            [0, 13, 10, 45, 45, 88, 121, 13, 10, 255, 13],
            [13],
            [],
        ]
        for payload in tricky {
            let data = Self.body(boundary, [("Content-Disposition: form-data; name=\"f\"\r\n", payload)])
            let parts = try MultipartFormData.parse(data, boundary: boundary)
            #expect(parts.count == 1)
            #expect(parts.first?.body == payload, "\(payload)")
        }
        var rng = SeededRandom(state: 5)
        var checked = 0
        for _ in 0 ..< 1000 {
            let alphabet = bytes("\r\n-XyZ") + [0, 255]
            let payload = (0 ..< Int.random(in: 0 ... 64, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 0 }
            let data = Self.body(boundary, [("Content-Disposition: form-data; name=\"a\"\r\n", payload), ("", bytes("second"))])
            // Random data can spell a real delimiter; when it doesn't, the part must round-trip.
            guard !(bytes("\r\n") + payload).containsDelimiter(bytes("\r\n--XyZ")) else { continue }
            checked += 1
            let parts = try MultipartFormData.parse(data, boundary: boundary)
            #expect(parts.count == 2)
            #expect(parts.first?.body == payload, "\(payload)")
            #expect(parts.last?.body == bytes("second"))
        }
        #expect(checked > 300)
    }

    @Test func preambleEpilogueAndPadding() throws {
        let data = bytes("This is a preamble.\r\n--b \t\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b\t\r\n\r\n2\r\n--b--\r\nepilogue --b\r\n")
        let parts = try MultipartFormData.parse(data, boundary: "b")
        #expect(parts.map { $0.body } == [bytes("1"), bytes("2")])
        #expect(parts.first?.name == "x")
        #expect(parts.last?.name == nil && parts.last?.headers.isEmpty == true)
        #expect(try MultipartFormData.parse(bytes("--b--"), boundary: "b").isEmpty)
    }

    @Test func severalParts() throws {
        let parts = (0 ..< 10).map { k in ("Content-Disposition: form-data; name=\"p\(k)\"\r\n", bytes("value \(k)")) }
        let parsed = try MultipartFormData.parse(Self.body("sep", parts), boundary: "sep")
        #expect(parsed.map { $0.name } == (0 ..< 10).map { "p\($0)" })
        #expect(parsed.map { $0.body } == (0 ..< 10).map { bytes("value \($0)") })
        #expect(throws: MultipartError.tooManyParts) { try MultipartFormData.parse(Self.body("sep", parts), boundary: "sep", maxParts: 9) }
        #expect(try MultipartFormData.parse(Self.body("sep", parts), boundary: "sep", maxParts: 10).count == 10)
    }

    @Test func dispositionParameters() throws {
        let headers = [
            ("form-data; name=\"a\\\"b\\\\c\"; filename=\"x\\\\y.png\"", "a\"b\\c", "x\\y.png"),
            ("form-data; name=plain; filename=file.txt", "plain", "file.txt"),
            ("FORM-DATA;NAME=\"semi;colon\";FILENAME=\"\"", "semi;colon", ""),
            ("form-data; name=\"caf\u{E9}\"; filename=\"\u{1F600}.jpg\"", "caf\u{E9}", "\u{1F600}.jpg"),
            ("form-data; filename=\"f\"; name=\"n\"", "n", "f"),
        ]
        for (value, name, filename) in headers {
            let data = Self.body("q", [("Content-Disposition: \(value)\r\nX-Extra:  1 \r\n", bytes("v"))])
            let part = try #require(try MultipartFormData.parse(data, boundary: "q").first)
            #expect(part.name == name)
            #expect(part.filename == filename)
            #expect(part.headers.last?.value == "1")
        }
        let attachment = Self.body("q", [("Content-Disposition: attachment; name=\"n\"\r\n", bytes("v"))])
        #expect(try MultipartFormData.parse(attachment, boundary: "q").first?.name == nil)
    }

    @Test func errors() {
        let good = "Content-Disposition: form-data; name=\"a\"\r\n"
        let cases: [[UInt8]] = [
            bytes("no boundary here"),
            bytes("--b\r\n" + good + "\r\nvalue"),  // no close delimiter
            bytes("--b\r\n" + good + "\r\nvalue\r\n--b"),  // delimiter at the very end: neither close nor next part
            bytes("--b\r\n" + good + "value\r\n--b--"),  // headers never end
            bytes("--bjunk\r\n" + good + "\r\nv\r\n--b--"),
            bytes("--b\r\nNoColon\r\n\r\nv\r\n--b--"),
            bytes("--b\r\nBad Name: x\r\n\r\nv\r\n--b--"),
            bytes("--b\r\nContent-Disposition: form-data; name=\"unterminated\r\n\r\nv\r\n--b--"),
            bytes("--b\r\nContent-Disposition: form-data; name\r\n\r\nv\r\n--b--"),
            bytes("--b\r\nContent-Disposition: form-data; name=\"a\"x\r\n\r\nv\r\n--b--"),
            bytes("--b"),
            [],
        ]
        for data in cases {
            #expect(throws: MultipartError.self, "\(String(decoding: data, as: UTF8.self).debugDescription)") {
                try MultipartFormData.parse(data, boundary: "b")
            }
        }
        #expect(throws: MultipartError.malformed("missing close delimiter")) {
            try MultipartFormData.parse(bytes("--b\r\n" + good + "\r\nvalue"), boundary: "b")
        }
        #expect(throws: MultipartError.self) { try MultipartFormData.parse(bytes("--\r\n\r\n"), boundary: "") }
        #expect(MultipartError.tooManyParts.description.contains("parts"))
    }

    @Test func mutatedBodiesNeverTrap() {
        var rng = SeededRandom(state: 11)
        let seed = Array(Self.curlRequest[(Self.curlRequest.count - 450)...])
        let boundary = "------------------------4ba3898ad1518dea"
        #expect((try? MultipartFormData.parse(seed, boundary: boundary))?.count == 3)
        for _ in 0 ..< 3000 {
            var data = seed
            for _ in 0 ..< Int.random(in: 1 ... 6, using: &rng) {
                guard !data.isEmpty else { break }
                let at = Int.random(in: 0 ..< data.count, using: &rng)
                switch Int.random(in: 0 ..< 3, using: &rng) {
                case 0: data[at] = bytes("\r\n-\";=\\ ").randomElement(using: &rng) ?? 0
                case 1: data.remove(at: at)
                default: data.removeSubrange(at...)
                }
            }
            if let parts = try? MultipartFormData.parse(data, boundary: boundary) {
                #expect(parts.reduce(0) { $0 + $1.body.count } <= data.count)
            }
        }
    }

    @Test func sixteenMiBPartIsFast() throws {
        var payload = [UInt8](repeating: 0, count: 16 << 20)
        var rng = SeededRandom(state: 3)
        for k in stride(from: 0, to: payload.count, by: 8) {
            withUnsafeBytes(of: rng.next()) { word in
                for j in 0 ..< 8 { payload[k + j] = word[j] }
            }
        }
        // Near-misses everywhere: the worst case for a naive search.
        let nearMiss = bytes("\r\n--------------------------4ba3898ad1518de")
        for k in stride(from: 0, to: payload.count - 64, by: 4096) {
            payload.replaceSubrange(k ..< k + nearMiss.count, with: nearMiss)
        }
        let boundary = "------------------------4ba3898ad1518dea"
        let data = Self.body(boundary, [("Content-Disposition: form-data; name=\"image\"; filename=\"big.bin\"\r\n", payload), ("", bytes("x"))])
        let clock = ContinuousClock()
        var parts: [MultipartPart] = []
        let elapsed = try clock.measure { parts = try MultipartFormData.parse(data, boundary: boundary) }
        #expect(parts.count == 2)
        #expect(parts.first?.body == payload)
        #expect(elapsed < .milliseconds(500), "took \(elapsed)")

        // All dashes against a dash boundary: every position is a near-miss.
        let runOfDashes = [UInt8](repeating: UInt8(ascii: "-"), count: 16 << 20)
        let dashes = bytes("--xx\r\n\r\n") + runOfDashes + bytes("\r\n--xx--")
        let dashElapsed = clock.measure { _ = try? MultipartFormData.parse(dashes, boundary: "xx") }
        #expect(dashElapsed < .milliseconds(500), "took \(dashElapsed)")
        let crlfs = bytes("--" + boundary + "\r\n\r\n") + [UInt8](repeating: 0, count: 16 << 20).enumerated().map { $0.offset % 2 == 0 ? 13 : 10 }
        let crlfElapsed = clock.measure { _ = try? MultipartFormData.parse(crlfs, boundary: boundary) }
        #expect(crlfElapsed < .milliseconds(500), "took \(crlfElapsed)")
        print("16 MiB multipart: \(elapsed), dashes \(dashElapsed), CRLFs \(crlfElapsed)")
    }
}

extension Array where Element == UInt8 {
    func containsDelimiter(_ needle: [UInt8]) -> Bool {
        guard count >= needle.count else { return false }
        return (0 ... count - needle.count).contains { self[$0 ..< $0 + needle.count].elementsEqual(needle) }
    }
}
