import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Resident memory of a process, from /proc.
func residentBytes(_ pid: Int32) -> Int {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

/// Polls liveness every 100 ms on a fresh connection while an attack runs: how slow its
/// slowest answer was, and how many polls got no 200.
final class HealthProbe: @unchecked Sendable {
    private let port: Int
    private let lock = NSLock()
    private var running = true
    private(set) var slowest = 0.0
    private(set) var failures = 0
    private(set) var polls = 0
    private var thread: Thread?

    init(port: Int) {
        self.port = port
        let t = Thread { [self] in loop() }
        thread = t
        t.start()
    }

    private func loop() {
        while lock.withLock({ running }) {
            let start = monotonicSeconds()
            let ok = (try? rawHTTP1(port: port, method: "GET", path: "/v2/health/live", timeout: 3))?.status == 200
            let took = monotonicSeconds() - start
            lock.withLock {
                polls += 1
                slowest = max(slowest, took)
                if !ok { failures += 1 }
            }
            usleep(100_000)
        }
    }

    /// Stops polling and checks that every poll was answered 200 within a second.
    func finish(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        lock.withLock { running = false }
        while thread?.isFinished == false { usleep(10_000) }
        #expect(polls > 0 && failures == 0, "\(context): \(failures) of \(polls) health polls failed", sourceLocation: sourceLocation)
        #expect(slowest < 1.0, "\(context): the slowest health answer took \(slowest) s", sourceLocation: sourceLocation)
    }
}

/// POSTs `body` to `url` from a file, with extra curl arguments.
func post(_ body: [UInt8], to url: String, _ extra: [String] = [], timeout: Double = 60) throws -> CurlResponse {
    let path = temporaryPath("body-\(UInt32.random(in: 0 ... .max))")
    write(body, to: path)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try curl(["--max-time", String(Int(timeout)), "--data-binary", "@" + path] + extra + [url], timeout: timeout + 5)
}

func json(_ object: Any) -> [UInt8] { Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()) }

/// An OIP request with the binary extension: JSON header, then the tensor's bytes.
func binaryInfer(datatype: String, shape: [Int], bytes: Int) -> (body: [UInt8], headerLength: Int) {
    let header = json(["inputs": [["name": "input", "datatype": datatype, "shape": shape, "parameters": ["binary_data_size": bytes]]]])
    return (header + [UInt8](repeating: 7, count: bytes), header.count)
}

extension ServerTests {
    /// The attacks of issue 16 against the real binary: each is answered with the status it
    /// deserves, the server stays up, health answers within a second throughout, and memory
    /// stays within the budgets.
    @Suite struct Hostile {
        static let digits = "fastvim-digits"

        @Test func oipShapesAreCheckedBeforeAnythingIsAllocated() throws {
            try withServer([]) { s in
                let url = s.base + "/v2/models/\(Self.digits)/infer"
                let probe = HealthProbe(port: s.port)
                let before = residentBytes(s.pid)
                let shapes: [[Int]] = [
                    [4_611_686_018_427_387_904, 2, 1, 1], [1, 3, 2_147_483_648, 2_147_483_648], [2_147_483_648, 3, 1, 1],
                    [200_000_000, 3, 1, 1], [64, 3, 4096, 4096], [1, 3, 4095, 1365], [9_223_372_036_854_775_807], [-1, 3, 8, 8],
                ]
                for shape in shapes {
                    for datatype in ["FP32", "UINT8", "UINT16", "BYTES"] {
                        let r = try post(json(["inputs": [["name": "input", "datatype": datatype, "shape": shape, "data": [1]]]]), to: url)
                        #expect(r.status == 400 || r.status == 413, "\(datatype) \(shape) JSON: \(r.status) \(r.text.prefix(200))")
                        let claimed = shape.reduce(1) { $0.multipliedReportingOverflow(by: max($1, 1)).partialValue }
                        let b = binaryInfer(datatype: datatype, shape: shape, bytes: 64)
                        let rb = try post(b.body, to: url, ["-H", "inference-header-content-length: \(b.headerLength)"])
                        #expect(rb.status == 400 || rb.status == 413, "\(datatype) \(shape) (\(claimed) elements) binary: \(rb.status) \(rb.text.prefix(200))")
                    }
                }
                // A claim the model accepts but the bytes cannot hold: refused without a tensor of that size.
                let big = try post(json(["inputs": [["name": "input", "datatype": "UINT8", "shape": [64, 3, 256, 256], "data": [1, 2, 3]]]]), to: url)
                #expect(big.status == 400, "\(big.status) \(big.text)")
                #expect(residentBytes(s.pid) - before < 64 << 20, "RSS grew from \(before >> 20) to \(residentBytes(s.pid) >> 20) MiB")
                probe.finish("oversized shapes")
                try expectHealthy(s, "oversized shapes")
            }
        }

        @Test func wrongAnswersBecomeClearRefusals() throws {
            let mask = try Fixtures.path("fastmaskvim_small.ckpt")
            try withServer(["--model", "digits=\(Fixtures.repository + "/models/fastvim-digits/fastvim_digits.pth")", "--model", "mask=" + mask]) { s in
                let url = s.base + "/v2/models/digits/infer"
                let zeros = [Int](repeating: 0, count: 3 * 32 * 32)
                func infer(_ input: [String: Any], outputs: [[String: Any]]? = nil, extra: [String: Any] = [:]) throws -> CurlResponse {
                    var body: [String: Any] = ["inputs": [input]]
                    if let outputs { body["outputs"] = outputs }
                    for (k, v) in extra { body[k] = v }
                    return try post(json(body), to: url)
                }
                let uint8 = ["name": "input", "datatype": "UINT8", "shape": [1, 3, 32, 32], "data": zeros] as [String: Any]
                // Non-finite outputs: a 500 naming the cause, never 200 with {}.
                let huge = try infer(["name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [Double](repeating: 3e38, count: zeros.count)])
                #expect(huge.status == 500 && huge.text.contains("non-finite"), "\(huge.status) \(huge.text)")
                let overflowInput = try infer(["name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [Double](repeating: 1e39, count: zeros.count)])
                #expect(overflowInput.status == 400, "1e39 as FP32: \(overflowInput.status) \(overflowInput.text)")
                for k: Any in [-1, 0, true, 1.5, "2"] {
                    let r = try infer(uint8, outputs: [["name": "logits", "parameters": ["classification": k]]])
                    #expect(r.status == 400, "classification \(k): \(r.status) \(r.text)")
                }
                let ok = try infer(uint8, outputs: [["name": "probabilities", "parameters": ["classification": 3]]])
                #expect(ok.status == 200, "\(ok.text)")
                // Bodies written by hand: what JSONSerialization would never produce.
                let raw: [(String, String)] = [
                    ("1e3 as a dimension", #"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1e0,3,32,32],"data":[0]}]}"#),
                    ("true as data", #"{"inputs":[{"name":"input","datatype":"FP32","shape":[1,3,1,1],"data":[true,0,0]}]}"#),
                    ("1.5 as UINT8", #"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,3,1,1],"data":[1.5,0,0]}]}"#),
                    ("ragged data", #"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,3,1,2],"data":[[[[0,0]],[[0]],[[0,0,0]]]]}"#),
                    ("unknown field", #"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,3,1,1],"data":[0,0,0],"extra":1}]}"#),
                    ("duplicate key", #"{"inputs":[],"inputs":[]}"#),
                    ("deep nesting", String(repeating: "[", count: 10_000)),
                    ("null id", #"{"id":null,"inputs":[{"name":"input","datatype":"UINT8","shape":[1,3,1,1],"data":[0,0,0]}]}"#),
                ]
                for (label, body) in raw {
                    let r = try post(Array(body.utf8), to: url)
                    #expect(r.status == 400, "\(label): \(r.status) \(r.text)")
                }
                // Mask indices are integers written as such, in range.
                let embed = s.base + "/v1/models/mask/embed"
                for m in ["[18446744073709551616]", "[1.5]", "[true, 3]", "[1e1]", "[-1]", "[\"3\"]", "{}"] {
                    let r = try curl(["-F", "image=@" + Paths.image("coffee.jpg"), "-F", "mask=\(m)", embed])
                    #expect(r.status == 400, "mask \(m): \(r.status) \(r.text)")
                }
                // An encoded slash stays inside its segment; OPTIONS answers with Allow.
                #expect(try curl([s.base + "/v2%2Fhealth%2Flive"]).status == 404)
                #expect(try curl([s.base + "/v2/models/digits%2Fstats"]).status == 404)
                let star = try rawHTTP1(port: s.port, method: "OPTIONS", path: "*")
                #expect(star.status == 200 && star.headers["allow"]?.contains("POST") == true, "\(star.status) \(star.headers)")
                let options = try curl(["-X", "OPTIONS", url])
                #expect(options.status == 204 && options.headers["allow"] == "POST, OPTIONS", "\(options.status) \(options.headers)")
                let metrics = try curl([s.base + "/metrics"]).text
                #expect(metrics.contains(#"fastvim_rejected_total{reason="non_finite_output",model="digits"}"#), "\(metrics.prefix(3000))")
                try expectHealthy(s, "wrong answers")
            }
        }

        @Test func activationMemoryStaysWithinItsBudget() throws {
            let budget = 64 << 20
            try withServer(["--max-activation-bytes", String(budget)]) { s in
                let url = s.base + "/v2/models/\(Self.digits)/infer"
                let b = binaryInfer(datatype: "UINT8", shape: [1, 3, 4095, 1365], bytes: 3 * 4095 * 1365)
                let big = try post(b.body, to: url, ["-H", "inference-header-content-length: \(b.headerLength)"])
                #expect(big.status == 413 && big.text.contains("--max-activation-bytes"), "\(big.status) \(big.text.prefix(300))")
                // Many admitted shapes one after another: least recently used ones are evicted.
                for side in stride(from: 64, through: 512, by: 64) {
                    let x = binaryInfer(datatype: "UINT8", shape: [1, 3, side, side], bytes: 3 * side * side)
                    let r = try post(x.body, to: url, ["-H", "inference-header-content-length: \(x.headerLength)"])
                    #expect(r.status == 200 || r.status == 413, "\(side): \(r.status) \(r.text.prefix(200))")
                    let metrics = try curl([s.base + "/metrics"]).text
                    let line = metrics.split(separator: "\n").first { $0.hasPrefix("fastvim_activation_memory_bytes{") } ?? ""
                    let held = Double(line.split(separator: " ").last ?? "0") ?? 0
                    #expect(held <= Double(budget), "after \(side)x\(side): \(held) bytes of activations held")
                }
                #expect(residentBytes(s.pid) < 512 << 20, "RSS \(residentBytes(s.pid) >> 20) MiB")
                try expectHealthy(s, "activation budget")
            }
        }

        /// 15 MB of JSON numbers are parsed on the decode pool: the event loop keeps answering.
        @Test func largeJSONBodiesDoNotStallTheLoop() throws {
            try withServer(["--max-body-bytes", String(32 << 20), "--max-activation-bytes", String(1 << 30)]) { s in
                let url = s.base + "/v2/models/\(Self.digits)/infer"
                let count = 8 * 3 * 256 * 256
                var text = #"{"inputs":[{"name":"input","datatype":"FP32","shape":[8,3,256,256],"data":["#
                text.reserveCapacity(count * 10)
                for i in 0 ..< count { text += (i == 0 ? "" : ",") + "0.123456" }
                text += "]}]}"
                let probe = HealthProbe(port: s.port)
                let r = try post(Array(text.utf8), to: url, timeout: 120)
                probe.finish("a \(text.utf8.count >> 20) MiB JSON infer")
                #expect(r.status == 200, "\(r.status) \(r.text.prefix(300))")
            }
        }

        /// Request bodies held at once are bounded across streams and connections.
        @Test func bodyBudgetIsGlobal() throws {
            let args = ["--max-body-bytes", String(1 << 20), "--max-buffered-body-bytes", String(4 << 20)]
            try withServer(args) { s in
                let before = residentBytes(s.pid)
                let probe = HealthProbe(port: s.port)
                // One h2c connection, 20 streams each sending 900 KB without ending.
                let h2 = try RawSocket(port: s.port)
                var bytes = H2.preface + H2.frame(type: H2.settings, flags: 0, stream: 0, payload: [])
                let chunk = [UInt8](repeating: 1, count: 900 << 10)
                for k in 0 ..< 20 {
                    let id = UInt32(2 * k + 1)
                    bytes += H2.frame(type: H2.headers, flags: H2.endHeaders, stream: id,
                                      payload: H2.requestBlock(method: "POST", path: "/v1/classify"))
                    var offset = 0
                    while offset < chunk.count {
                        let n = min(16_384, chunk.count - offset)
                        bytes += H2.frame(type: H2.data, flags: 0, stream: id, payload: Array(chunk[offset ..< offset + n]))
                        offset += n
                    }
                }
                h2.send(bytes)
                // Ten HTTP/1.1 connections, each 900 KB into a 1 MB body.
                var http1: [RawSocket] = []
                for _ in 0 ..< 10 {
                    let c = try RawSocket(port: s.port)
                    c.send("POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-length: \(1 << 20)\r\n\r\n")
                    c.send(chunk)
                    http1.append(c)
                }
                usleep(500_000)
                let grown = residentBytes(s.pid) - before
                #expect(grown < 48 << 20, "RSS grew by \(grown >> 20) MiB holding bodies (budget 4 MiB)")
                let metrics = try curl([s.base + "/metrics"]).text
                #expect(metrics.contains(#"reason="memory_budget""#), "no memory_budget refusals counted")
                h2.close()
                for c in http1 { c.close() }
                probe.finish("body budget")
                try expectHealthy(s, "body budget")
            }
        }

        /// A client that pipelines requests and never reads: the server stops taking them up
        /// (backpressure) instead of rendering answers into memory.
        @Test func pipelinersThatNeverReadMeetBackpressure() throws {
            try withServer(["--max-response-queue-bytes", String(256 << 10), "--send-timeout", "3"]) { s in
                let before = residentBytes(s.pid)
                let probe = HealthProbe(port: s.port)
                let c = try RawSocket(port: s.port)
                let request = Array("GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n".utf8)
                let batch = (0 ..< 200).flatMap { _ in request }
                let writer = Thread {
                    let end = monotonicSeconds() + 4
                    while monotonicSeconds() < end {
                        var one = batch
                        // Non-blocking send: once the server stops reading, the kernel buffers fill.
                        let n = one.withUnsafeMutableBytes { Glibc.send(c.fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                        if n <= 0 { usleep(50_000) }
                    }
                }
                writer.start()
                while !writer.isFinished { usleep(50_000) }
                let grown = residentBytes(s.pid) - before
                #expect(grown < 32 << 20, "RSS grew by \(grown >> 20) MiB for a client that never reads")
                // It never reads: past the send timeout the server closes it, so draining what the
                // kernel buffered reaches the end instead of a stream that goes on and on.
                usleep(4_000_000)
                let (drained, end) = c.receiveAll(timeout: 15)
                #expect(end != .timeout, "still open after the send timeout (\(drained.count) bytes drained)")
                probe.finish("pipelining without reading")
                try expectHealthy(s, "pipelining without reading")
            }
        }

        /// Trickling bytes, or PINGs, do not hold a connection past the receive and idle timeouts.
        @Test func slowClientsCannotHoldSlots() throws {
            try withServer(["--receive-timeout", "2", "--idle-timeout", "2", "--body-timeout", "30", "--header-timeout", "30"]) { s in
                let started = monotonicSeconds()
                // HTTP/1.1: one body byte every 300 ms.
                let h1 = try RawSocket(port: s.port)
                h1.send("POST /v1/classify HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n")
                // h2c: PINGs only, and a stream trickling DATA.
                let pinger = try RawSocket(port: s.port)
                pinger.send(H2.preface + H2.frame(type: H2.settings, flags: 0, stream: 0, payload: []))
                let trickler = try RawSocket(port: s.port)
                trickler.send(H2.preface + H2.frame(type: H2.settings, flags: 0, stream: 0, payload: [])
                    + H2.frame(type: H2.headers, flags: H2.endHeaders, stream: 1, payload: H2.requestBlock(method: "POST", path: "/v1/classify")))
                var h1Answer: [UInt8] = []
                var pingerClosed = false
                var tricklerAnswer: [UInt8] = []
                while monotonicSeconds() - started < 8 {
                    h1.send([0x41])
                    pinger.send(H2.frame(type: H2.ping, flags: 0, stream: 0, payload: [UInt8](repeating: 0, count: 8)))
                    trickler.send(H2.frame(type: H2.data, flags: 0, stream: 1, payload: [0x41]))
                    for (socket, sink) in [(h1, 0), (pinger, 1), (trickler, 2)] {
                        socket.setReceiveTimeout(0.1)
                        switch socket.receive() {
                        case let .bytes(b): if sink == 0 { h1Answer += b } else if sink == 2 { tricklerAnswer += b }
                        case .closed, .reset: if sink == 1 { pingerClosed = true }
                        case .timeout: break
                        }
                    }
                    usleep(100_000)
                }
                #expect(String(decoding: h1Answer, as: UTF8.self).hasPrefix("HTTP/1.1 408"), "HTTP/1.1 trickle: \(String(decoding: h1Answer.prefix(80), as: UTF8.self))")
                var frames = pinger.receiveAll(timeout: 0.5).bytes
                _ = H2.parse(&frames)
                #expect(pingerClosed, "a client sending only PINGs kept its connection past the idle timeout")
                var trickled = tricklerAnswer
                let answered = H2.parse(&trickled).contains { $0.type == H2.headers && $0.stream == 1 }
                #expect(answered, "the trickling h2 stream got no answer within the receive timeout")
                try expectHealthy(s, "slow clients")
            }
        }

        /// A progressive JPEG whose scans outnumber what its bytes are worth is refused, fast.
        @Test func scanBombsAreRefused() throws {
            try withServer([]) { s in
                let bomb = Fixtures.repository + "/Tests/FastVimImagesTests/Resources/jpeg_many_scans.jpg"
                let r = try curl(["--data-binary", "@" + bomb, s.base + "/v1/classify"])
                #expect(r.status == 413 && r.text.contains("scans"), "\(r.status) \(r.text)")
                try expectHealthy(s, "scan bomb")
            }
        }
    }
}
