@testable import FastVimHTTP
import Testing

@Suite struct RequestTargetTests {
    @Test func pathAndQuery() throws {
        let t = try RequestTarget(parsing: "/v1/models/vim%20small/predict?top_k=5&label=a+b%2Bc&empty=&flag&=v&&top_k=7")
        #expect(t.path == "/v1/models/vim small/predict")
        #expect(t.query.map(\.name) == ["top_k", "label", "empty", "flag", "", "top_k"])
        #expect(t.value("top_k") == "5")
        #expect(t.values("top_k") == ["5", "7"])
        #expect(t.value("label") == "a b+c")
        #expect(t.value("empty") == "")
        #expect(t.value("flag") == "")
        #expect(t.value("missing") == nil)
        #expect(t.value("TOP_K") == nil)
    }

    @Test func plusStaysInPath() throws {
        #expect(try RequestTarget(parsing: "/a+b/c%2Bd").path == "/a+b/c+d")
        #expect(try RequestTarget(parsing: "/x?q=1+1").value("q") == "1 1")
        #expect(try RequestTarget(parsing: "/x?a%3Db=c%26d").value("a=b") == "c&d")
    }

    @Test func decodingIsNotNormalising() throws {
        #expect(try RequestTarget(parsing: "/a/../b").path == "/a/../b")
        #expect(try RequestTarget(parsing: "/a%2F..%2Fb").path == "/a/../b")
        #expect(try RequestTarget(parsing: "//double").path == "//double")
        #expect(try RequestTarget(parsing: "/").path == "/")
        #expect(try RequestTarget(parsing: "/?").query.isEmpty)
        #expect(try RequestTarget(parsing: "/caf%C3%A9").path == "/caf\u{E9}")
        #expect(try RequestTarget(parsing: "/%e2%82%ac").path == "/\u{20AC}")
    }

    /// RFC 9112 §3.2.2: servers accept the absolute form and use its path and query.
    @Test func absoluteForm() throws {
        #expect(try RequestTarget(parsing: "http://host/x").path == "/x")
        #expect(try RequestTarget(parsing: "HTTP://host:8080/v1/classify?top_k=2") == RequestTarget(path: "/v1/classify", query: [("top_k", "2")]))
        #expect(try RequestTarget(parsing: "https://host").path == "/")
        #expect(try RequestTarget(parsing: "http://host?a=1").query.first?.value == "1")
    }

    @Test func rejections() {
        let bad = [
            "", "*", "v1/x", "http:///x", "ftp://host/x", "host:443", "/a%", "/a%4", "/a%zz", "/a%4g", "/a?x=%", "/a?%G0=1",
            "/a%00b", "/a?x=%00", "/a%FF", "/a?x=%C3", "/a b", "/a\u{0}", "/a\u{7F}", "/caf\u{E9}", "/a#frag",
        ]
        for target in bad {
            #expect(throws: HTTP1ParseError.self, "\(target.debugDescription)") { try RequestTarget(parsing: target) }
        }
        #expect((try? RequestTarget(parsing: "/a%zz")) == nil)
        do {
            _ = try RequestTarget(parsing: "*")
            Issue.record("accepted *")
        } catch {
            #expect(error.status == 400)
        }
    }

    @Test func equality() throws {
        #expect(try RequestTarget(parsing: "/a?x=1") == RequestTarget(path: "/a", query: [("x", "1")]))
        #expect(try RequestTarget(parsing: "/a?x=1") != RequestTarget(path: "/a", query: [("x", "2")]))
        #expect(try RequestTarget(parsing: "/a?x=1&y") != RequestTarget(path: "/a", query: [("x", "1")]))
    }

    @Test func randomTargetsNeverTrap() {
        var rng = SeededRandom(state: 17)
        let alphabet = bytes("/%?&=+aZ09#.") + [0, 0x20, 0x7F, 0xC3, 0xA9, 0xFF]
        for _ in 0 ..< 5000 {
            let raw = (0 ..< Int.random(in: 0 ... 24, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? 0 }
            if let target = try? RequestTarget(parsing: String(decoding: raw, as: UTF8.self)) {
                #expect(target.path.hasPrefix("/"))
                #expect(!target.path.contains("\u{0}"))
            }
        }
    }
}
