import Foundation
import Testing
import TestSupport

extension ServerTests {
    /// h2 over TLS (ALPN), HTTP/1.1 over TLS and plaintext on the same port.
    @Suite struct TLS {
        @Test func tlsAndPlaintextOnOnePort() throws {
            let dir = Paths.tempDir("tls")
            let gen = try runCommand("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                                 "-keyout", dir + "/k.pem", "-out", dir + "/c.pem"], timeout: 60)
            try #require(gen.status == 0, "openssl req failed: \(gen.stderr)")
            try withServer(Paths.smallModelArgs() + ["--tls-cert", dir + "/c.pem", "--tls-key", dir + "/k.pem"]) { s in
                #expect(s.log.contains("https+http"), "the serving line does not announce TLS")
                let https = "https://127.0.0.1:\(s.port)"
                let h2 = try curl(["-k", "--http2", https + "/v2/health/ready"])
                #expect(h2.status == 200, "h2 over TLS: \(h2.status) curl \(h2.exitCode) \(h2.stderr)")
                #expect(h2.httpVersion == "2", "ALPN should pick h2, curl used HTTP/\(h2.httpVersion)")

                let h1 = try curl(["-k", "--http1.1", https + "/v2/health/ready"])
                #expect(h1.status == 200 && h1.httpVersion == "1.1", "HTTP/1.1 over TLS: \(h1.status) \(h1.httpVersion) \(h1.stderr)")

                let classify = try curl(["-k", "--http2", "--data-binary", "@" + Paths.image("chelsea.png"), https + "/v1/classify"])
                #expect(classify.status == 200 && classify.httpVersion == "2", "classify over h2/TLS: \(classify.status) \(classify.text.prefix(200))")
                #expect(try classify.json()["model"] as? String == "small")

                let plain = try curl(["--http1.1", s.base + "/v2/health/ready"])
                #expect(plain.status == 200 && plain.httpVersion == "1.1", "plaintext HTTP/1.1 on the TLS port: \(plain.status) \(plain.stderr)")
                let h2c = try curl(["--http2-prior-knowledge", s.base + "/v2/health/ready"])
                #expect(h2c.status == 200 && h2c.httpVersion == "2", "h2c on the TLS port: \(h2c.status) \(h2c.stderr)")

                // The openssl client sees the certificate and negotiates h2 by ALPN.
                let sclient = try runCommand("sh", ["-c", "printf '' | openssl s_client -connect 127.0.0.1:\(s.port) -alpn h2 -servername localhost 2>&1"],
                                             timeout: 20)
                #expect(sclient.text.contains("ALPN protocol: h2"), "openssl s_client: \(sclient.text.suffix(600))")

                // A TLS client that gives up mid-handshake does not hurt the server.
                let half = try RawSocket(port: s.port)
                half.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
                half.close()
                try expectHealthy(s, "after a truncated ClientHello")
            }
        }
    }

    /// Many requests and streams at once against the small model: all succeed, batches form.
    @Suite struct Load {
        static func h2loadCounts(_ text: String) -> (succeeded: Int, twoxx: Int, total: Int)? {
            // "requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, ..."
            // "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx"
            guard let req = text.split(separator: "\n").first(where: { $0.hasPrefix("requests:") }),
                  let codes = text.split(separator: "\n").first(where: { $0.hasPrefix("status codes:") }) else { return nil }
            func number(before word: String, in line: Substring) -> Int? {
                let parts = line.replacingOccurrences(of: ",", with: " ").split(separator: " ")
                guard let i = parts.firstIndex(of: Substring(word)), i > 0 else { return nil }
                return Int(parts[i - 1])
            }
            guard let total = number(before: "total", in: req), let ok = number(before: "succeeded", in: req),
                  let twoxx = number(before: "2xx", in: codes) else { return nil }
            return (ok, twoxx, total)
        }

        @Test func h2loadAndMultiplexedStreams() throws {
            try withServer(Paths.smallModelArgs()) { s in
                let url = s.base + "/v1/classify"
                let started = monotonicSeconds()
                let load = try runCommand("h2load", ["-n", "2000", "-c", "8", "-m", "8", "-d", Paths.image("tiny.png"),
                                                     "-H", "content-type: image/png", url], timeout: 120)
                let elapsed = monotonicSeconds() - started
                #expect(load.status == 0, "h2load exit \(load.status): \(load.stderr)")
                let counts = Self.h2loadCounts(load.text)
                #expect(counts?.total == 2000 && counts?.succeeded == 2000 && counts?.twoxx == 2000,
                        "h2load: \(load.text.split(separator: "\n").filter { $0.hasPrefix("requests:") || $0.hasPrefix("status codes:") })")
                print("h2load -n 2000 -c 8 -m 8: \(String(format: "%.1f", elapsed)) s")

                // 50 streams at once on one connection.
                let one = try runCommand("h2load", ["-n", "200", "-c", "1", "-m", "50", "-d", Paths.image("tiny.png"), url], timeout: 60)
                let oneCounts = Self.h2loadCounts(one.text)
                #expect(oneCounts?.succeeded == 200 && oneCounts?.twoxx == 200, "h2load -c 1 -m 50: \(one.text.suffix(800))")

                let nghttp = try runCommand("nghttp", ["-v", "-n", "-m", "50", "-d", Paths.image("tiny.png"), url], timeout: 60)
                let ok = nghttp.text.components(separatedBy: ":status: 200").count - 1
                #expect(ok == 50, "nghttp -m 50: \(ok) answers with :status 200 (exit \(nghttp.status)); \(nghttp.stderr.suffix(400))")
                #expect(nghttp.status == 0)

                let metrics = try curl([s.base + "/metrics"]).text
                let count = metricValue(metrics, "fastvim_batch_size_count", labels: ["model": "small"]) ?? 0
                let sum = metricValue(metrics, "fastvim_batch_size_sum", labels: ["model": "small"]) ?? 0
                #expect(count > 0, "no batches recorded")
                #expect(sum >= 2250, "images in batches: \(sum), expected at least 2250")
                #expect(count > 0 && sum / count > 1, "mean batch size \(sum / max(count, 1)) (sum \(sum), count \(count)): requests were not batched")
                print("batches: \(Int(count)), mean size \(String(format: "%.2f", sum / max(count, 1)))")
                #expect((metricValue(metrics, "fastvim_requests_total", labels: ["route": "/v1/classify", "code": "200"]) ?? 0) >= 2250)
            }
        }
    }
}
