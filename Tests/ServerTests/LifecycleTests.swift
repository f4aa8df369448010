import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A BYTES infer body of `n` copies of an image, for slow (FastVim-T) requests.
func bytesInferBody(image: String, count n: Int) throws -> [UInt8] {
    let b64 = try Data(contentsOf: URL(fileURLWithPath: Paths.image(image))).base64EncodedString()
    let body: [String: Any] = ["inputs": [["name": "image", "datatype": "BYTES", "shape": [n], "data": Array(repeating: b64, count: n)]],
                               "outputs": [["name": "probabilities", "parameters": ["classification": 1]]]]
    return Array(try JSONSerialization.data(withJSONObject: body))
}

extension ServerTests {
    /// SIGTERM drains: readiness turns 503 (or the listener closes), in-flight requests finish, exit 0.
    @Suite struct GracefulShutdown {
        @Test func drainsInFlightRequests() throws {
            let server = ServerProcess(try Paths.tModelArgs() + ["--shutdown-timeout", "20"])
            try server.start()
            defer { server.kill9() }
            let body = try bytesInferBody(image: "coffee.jpg", count: 12)
            let port = server.port

            // A keep-alive HTTP/1.1 connection opened before the signal.
            let keep = try RawSocket(port: port)
            keep.send("GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
            let (before, _) = keep.receive(until: { parseHTTP1Response($0) != nil }, timeout: 10)
            #expect(parseHTTP1Response(before)?.status == 200)

            // Three slow requests (12 images each on FastVim-T) over HTTP/1.1 and one over h2c.
            let results = Locked([Int](repeating: -1, count: 4))
            let inflight = Background {
                concurrently(4) { i in
                    if i < 3 {
                        let r = try? rawHTTP1(port: port, method: "POST", path: "/v2/models/t/infer",
                                              headers: [("Content-Type", "application/json")], body: body, timeout: 60)
                        results.with { $0[i] = r?.status ?? 0 }
                    } else {
                        let path = Paths.tempDir("drain") + "/body.json"
                        write(body, to: path)
                        let r = try? curl(["--http2-prior-knowledge", "--max-time", "60", "-H", "content-type: application/json",
                                           "--data-binary", "@" + path, "http://127.0.0.1:\(port)/v2/models/t/infer"])
                        results.with { $0[i] = r?.status ?? 0 }
                    }
                }
            }
            // Wait until all four are in flight.
            let waitStart = monotonicSeconds()
            while monotonicSeconds() - waitStart < 10 {
                let m = try curl(["--max-time", "5", "http://127.0.0.1:\(port)/metrics"]).text
                if (metricValue(m, "fastvim_inflight_requests") ?? 0) >= 5 { break }  // 4 + this /metrics request
                usleep(50_000)
            }
            let signalled = monotonicSeconds()
            server.signal(SIGTERM)
            usleep(100_000)

            // Readiness on the old connection: 503, or the connection is closed.
            keep.send("GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
            let (after, end) = keep.receive(until: { parseHTTP1Response($0) != nil }, timeout: 10)
            let readyStatus = parseHTTP1Response(after)?.status
            #expect(readyStatus == 503 || (readyStatus == nil && end != .timeout),
                    "readiness on an open connection after SIGTERM: \(readyStatus.map(String.init) ?? "no answer (\(String(describing: end)))")")
            // A new connection: refused (listener closed) or 503.
            let fresh = try curl(["--max-time", "5", "http://127.0.0.1:\(port)/v2/health/ready"])
            #expect(fresh.status == 503 || fresh.exitCode == 7, "readiness on a new connection after SIGTERM: \(fresh.status) curl \(fresh.exitCode)")

            inflight.wait()
            #expect(results.get == [200, 200, 200, 200], "in-flight requests during the drain answered \(results.get); log:\n\(server.logTail)")
            let status = server.waitForExit(timeout: 25)
            let exitedAfter = monotonicSeconds() - signalled
            #expect(status == 0, "exit status \(status.map(String.init) ?? "still running") after SIGTERM; log:\n\(server.logTail)")
            #expect(exitedAfter < 20, "exit \(exitedAfter) s after SIGTERM with --shutdown-timeout 20")
            print("graceful shutdown: readiness \(readyStatus.map(String.init) ?? "closed"), new connection \(fresh.exitCode == 7 ? "refused" : String(fresh.status)), exit after \(String(format: "%.2f", exitedAfter)) s")
            #expect(server.log.contains("shutting down"))
        }

        /// A request that outlives --shutdown-timeout is cut off; the process still exits 0 in time.
        @Test func shutdownTimeoutBoundsTheDrain() throws {
            let server = ServerProcess(try Paths.tModelArgs() + ["--shutdown-timeout", "1", "--max-batch-size", "64"])
            try server.start()
            defer { server.kill9() }
            let body = try bytesInferBody(image: "coffee.jpg", count: 64)
            let port = server.port
            let status = Locked(-1)
            let slow = Background {
                let r = try? rawHTTP1(port: port, method: "POST", path: "/v2/models/t/infer", body: body, timeout: 60)
                status.with { $0 = r?.status ?? 0 }
            }
            usleep(600_000)
            let t0 = monotonicSeconds()
            server.signal(SIGTERM)
            let code = server.waitForExit(timeout: 15)
            let after = monotonicSeconds() - t0
            slow.wait()
            #expect(code == 0, "exit status \(code.map(String.init) ?? "still running"); log:\n\(server.logTail)")
            #expect(after < 6, "exited \(after) s after SIGTERM with --shutdown-timeout 1")
            print("shutdown timeout 1 s with a 64-image request in flight: exit after \(String(format: "%.2f", after)) s, request got \(status.get)")
        }
    }

    /// Admission control: a full queue answers 503 + Retry-After; deadlines answer 504.
    @Suite struct Backpressure {
        @Test func fullQueueAnswers503WithRetryAfter() throws {
            try withServer(Paths.tModelArgs() + ["--max-queue", "2", "--max-batch-size", "1"]) { s in
                let image = fileBytes(try Paths.image("coffee.jpg"))
                let port = s.port
                let answers = Locked([RawResponse]())
                concurrently(20) { _ in
                    let r = (try? rawHTTP1(port: port, method: "POST", path: "/v1/classify", body: image, timeout: 60))
                        ?? RawResponse(status: 0, headers: [:], body: [])
                    answers.with { $0.append(r) }
                }
                let all = answers.get
                let ok = all.filter { $0.status == 200 }.count
                let busy = all.filter { $0.status == 503 }
                print("20 concurrent with --max-queue 2 --max-batch-size 1: \(ok) x 200, \(busy.count) x 503, others \(all.filter { $0.status != 200 && $0.status != 503 }.map(\.status))")
                #expect(ok + busy.count == 20, "statuses: \(all.map(\.status))")
                #expect(ok >= 1)
                #expect(!busy.isEmpty, "no request was refused with the queue bounded at 2")
                for r in busy {
                    #expect(r.headers["retry-after"].flatMap { Int($0) }.map { $0 >= 1 } == true, "503 without a valid Retry-After: \(r.headers)")
                    #expect(r.text.contains("\"error\""))
                }
                let metrics = try curl([s.base + "/metrics"]).text
                #expect(metricValue(metrics, "fastvim_rejected_total", labels: ["reason": "queue_full"]) == Double(busy.count))
                try expectHealthy(s, "after the queue overflowed")
            }
        }

        @Test func deadlineOnABusyServerAnswers504() throws {
            try withServer(Paths.tModelArgs() + Paths.smallModelArgs()) { s in
                let body = try bytesInferBody(image: "coffee.jpg", count: 16)
                let port = s.port
                let stop = Locked(false)
                // Keep FastVim-T busy with 16-image batches.
                let load = Background {
                    concurrently(2) { _ in
                        while !stop.get {
                            _ = try? rawHTTP1(port: port, method: "POST", path: "/v2/models/t/infer", body: body, timeout: 60)
                        }
                    }
                }
                usleep(500_000)
                var statuses: [Int] = []
                var slowest = 0.0
                for proto in [["--http1.1"], ["--http2-prior-knowledge"]] {
                    for q in ["?timeout_ms=1", "?timeout_ms=50"] {
                        let t0 = monotonicSeconds()
                        let r = try curl(proto + ["--max-time", "20", "--data-binary", "@" + Paths.image("coffee.jpg"), s.base + "/v1/classify" + q])
                        slowest = max(slowest, monotonicSeconds() - t0)
                        statuses.append(r.status)
                        #expect(r.status == 504, "\(proto[0]) \(q) on a busy server: \(r.status) \(r.text.prefix(200))")
                        #expect(try r.json()["error"] is String)
                    }
                }
                // The request-timeout-ms header works the same way.
                let header = try curl(["-H", "request-timeout-ms: 1", "--data-binary", "@" + Paths.image("coffee.jpg"), s.base + "/v1/classify"])
                #expect(header.status == 504, "request-timeout-ms: 1 header: \(header.status)")
                let badTimeout = try curl(["--data-binary", "@" + Paths.image("tiny.png"), s.base + "/v1/classify?timeout_ms=0"])
                #expect(badTimeout.status == 400)
                stop.with { $0 = true }
                load.wait()
                print("deadlines on a busy server: \(statuses), slowest answer \(String(format: "%.2f", slowest)) s")
                // Deadlines of 1-50 ms against a busy server: a 504 within seconds shows the timer
                // answered, not the end of a queue (which would take 20 images x 40 ms and more).
                #expect(slowest < 5, "a 504 took \(slowest) s to arrive")
                let metrics = try curl([s.base + "/metrics"]).text
                #expect((metricValue(metrics, "fastvim_requests_total", labels: ["route": "/v1/classify", "code": "504"]) ?? 0) >= 5)
                try expectHealthy(s, "after deadlines")
            }
        }
    }
}
