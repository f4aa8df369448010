import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// End-to-end tests of `fastvim serve`: they launch the real binary on --port 0 and talk to it
// with real clients (curl, nghttp, h2load, openssl) and with raw sockets for hostile input.
// They never import the server's modules.

/// Every server suite is nested here: `.serialized` runs them one after another, so timings
/// (slowloris, deadlines, shutdown) are not disturbed by a neighbour's load on 2 cores.
@Suite(.serialized) struct ServerTests {}

enum Paths {
    static var binary: String { FastVimBinary.path }

    static func image(_ name: String) throws -> String { try Fixtures.path("images/" + name) }
    static var fastvimT: String { get throws { try Fixtures.path("fastvim_t.pth") } }
    static var small: String { get throws { try Fixtures.path("fastvim_small.ckpt") } }

    /// A fresh temporary directory for one test.
    static func tempDir(_ label: String) -> String { temporaryDirectory(label) }

    /// The small model's config (64x96 input), written at test time.
    static func smallConfig() -> String {
        let path = tempDir("cfg") + "/fastvim_small.json"
        write(Array(#"{"image_size": [64, 96], "preprocessing": {"resize": 64, "crop_size": [64, 96]}}"#.utf8), to: path)
        return path
    }

    /// `--model small=<ckpt>,config=<cfg>`.
    static func smallModelArgs(name: String = "small") throws -> [String] {
        try ["--model", "\(name)=\(small),config=\(smallConfig())"]
    }

    static func tModelArgs(name: String = "t") throws -> [String] { try ["--model", "\(name)=\(fastvimT)"] }
}

/// A normal request must still succeed: the server is alive and answering.
func expectHealthy(_ server: ServerProcess, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(server.isRunning, "\(context): the server process died; log:\n\(server.logTail)", sourceLocation: sourceLocation)
    let r = try curl(["--max-time", "20", "--data-binary", "@" + Paths.image("tiny.png"), "-H", "content-type: image/png",
                      server.base + "/v1/classify"])
    #expect(r.status == 200, "\(context): a normal classify after it answered \(r.status) (curl \(r.exitCode): \(r.stderr)) \(r.text.prefix(200))",
            sourceLocation: sourceLocation)
    let h2 = try curl(["--max-time", "20", "--http2-prior-knowledge", server.base + "/v2/health/ready"])
    #expect(h2.status == 200 && h2.httpVersion == "2", "\(context): h2c readiness after it: \(h2.status) \(h2.httpVersion) \(h2.stderr)",
            sourceLocation: sourceLocation)
}

/// Runs `body(i)` for i in 0..<n on n threads at once and waits for all.
func concurrently(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    var threads: [Thread] = []
    for i in 0 ..< n {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 1 << 20
        threads.append(t)
    }
    for t in threads { t.start() }
    group.wait()
}

/// Runs `body` on a background thread; `wait()` joins it.
final class Background: @unchecked Sendable {
    private let group = DispatchGroup()
    init(_ body: @escaping @Sendable () -> Void) {
        group.enter()
        let t = Thread { [group] in
            body()
            group.leave()
        }
        t.start()
    }
    func wait() { group.wait() }
}

// MARK: - Prometheus exposition

/// The value of the first sample named `name` whose labels contain every `labels` pair.
func metricValue(_ text: String, _ name: String, labels: [String: String] = [:]) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard line.hasPrefix(name) else { continue }
        let rest = line.dropFirst(name.count)
        guard rest.first == "{" || rest.first == " " else { continue }
        if !labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }) { continue }
        guard let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
        return value
    }
    return nil
}

/// Sum of every sample named `name` whose labels contain every `labels` pair.
func metricSum(_ text: String, _ name: String, labels: [String: String] = [:]) -> Double {
    var total = 0.0
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard line.hasPrefix(name) else { continue }
        let rest = line.dropFirst(name.count)
        guard rest.first == "{" || rest.first == " " else { continue }
        if !labels.allSatisfy({ line.contains("\($0.key)=\"\($0.value)\"") }) { continue }
        total += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
    }
    return total
}

func fileBytes(_ path: String) -> [UInt8] {
    Array((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
}
