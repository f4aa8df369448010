import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `fastvim` executable the tests run: built beside the test bundle.
public enum FastVimBinary {
    public static var path: String {
        // Test bundles sit in the build directory next to the executable products.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0 ..< 5 {
            let candidate = dir.appendingPathComponent("fastvim").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        for scratch in [".build-st", ".build"] {
            let candidate = Fixtures.repository + "/\(scratch)/release/fastvim"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return Fixtures.repository + "/.build/release/fastvim"
    }
}

/// One `fastvim serve` process on a free port; its stderr goes to a file (a pipe could fill
/// up with access-log lines and block the server).
public final class ServerProcess: @unchecked Sendable {
    public let process = Process()
    public let logPath: String
    public private(set) var port = 0
    public let arguments: [String]
    /// Added to the test process's environment.
    public let environment: [String: String]

    public init(_ arguments: [String], environment: [String: String] = [:]) {
        self.arguments = arguments
        self.environment = environment
        logPath = temporaryPath("server-\(UUID().uuidString.prefix(8)).log")
    }

    public var pid: Int32 { process.processIdentifier }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    public var logTail: String { String(log.suffix(4000)) }
    public var isRunning: Bool { process.isRunning }
    public var base: String { "http://127.0.0.1:\(port)" }

    public func start(timeout: Double = 60) throws {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: FastVimBinary.path)
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0"] + arguments
        process.standardError = errHandle
        process.standardOutput = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? errHandle.close()
        let deadline = monotonicSeconds() + timeout
        while monotonicSeconds() < deadline {
            let text = log
            if let range = text.range(of: "serving on ") {
                // "serving on 127.0.0.1:PORT (http; ...": the port ends at the first non-digit.
                let rest = text[range.upperBound...]
                if let colon = rest.firstIndex(of: " ").map({ rest[..<$0] })?.lastIndex(of: ":") {
                    let digits = rest[rest.index(after: colon)...].prefix { $0.isNumber }
                    if let p = Int(digits), p > 0 {
                        port = p
                        return
                    }
                }
            }
            if !process.isRunning {
                throw ServerStartError(description: "fastvim serve exited with \(process.terminationStatus) before serving:\n\(logTail)")
            }
            usleep(20_000)
        }
        kill9()
        throw ServerStartError(description: "no \"serving on\" line within \(timeout) s:\n\(logTail)")
    }

    public func signal(_ sig: Int32) { if process.isRunning { kill(process.processIdentifier, sig) } }

    public func kill9() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Waits for the exit; nil when still running after `timeout`.
    public func waitForExit(timeout: Double) -> Int32? {
        let deadline = monotonicSeconds() + timeout
        while process.isRunning, monotonicSeconds() < deadline { usleep(10_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM, then exit status 0 within `timeout` seconds (kill -9 and an issue otherwise).
    public func stop(timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation) {
        guard process.isRunning || process.processIdentifier != 0 else { return }
        signal(SIGTERM)
        guard let status = waitForExit(timeout: timeout) else {
            Issue.record("server did not exit within \(timeout) s of SIGTERM; log:\n\(logTail)", sourceLocation: sourceLocation)
            kill9()
            return
        }
        #expect(process.terminationReason == .exit && status == 0,
                "server exit: \(process.terminationReason == .exit ? "status" : "signal") \(status); log:\n\(logTail)",
                sourceLocation: sourceLocation)
    }
}

/// Runs `body` against a fresh server; stops it with SIGTERM afterwards, kill -9 when the body throws.
public func withServer<R>(_ arguments: [String], environment: [String: String] = [:], startTimeout: Double = 60, stopTimeout: Double = 10,
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: (ServerProcess) throws -> R) throws -> R {
    let server = ServerProcess(arguments, environment: environment)
    try server.start(timeout: startTimeout)
    let result: R
    do {
        result = try body(server)
    } catch {
        print("server log tail (test failed):\n\(server.logTail)")
        server.kill9()
        throw error
    }
    #expect(server.isRunning, "server died during the test; log:\n\(server.logTail)", sourceLocation: sourceLocation)
    server.stop(timeout: stopTimeout, sourceLocation: sourceLocation)
    return result
}

public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
}

/// A value shared between threads, behind a lock.
public final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    public init(_ value: T) { self.value = value }
    public func with<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    public var get: T { with { $0 } }
}
