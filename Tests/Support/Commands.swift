import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fresh temporary directory, named for the test process and `label`.
public func temporaryDirectory(_ label: String) -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("fastvim-tests-\(getpid())-\(label)-\(UUID().uuidString.prefix(8))").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: Data
    public let stderr: String
    public let timedOut: Bool
    public var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a program (found on PATH) with a wall-clock limit; output goes through files so
/// neither stream can block it.
public func runCommand(_ program: String, _ args: [String], timeout: Double = 60, stdin: String? = nil) throws -> CommandResult {
    let dir = temporaryDirectory("cmd")
    let outPath = dir + "/out", errPath = dir + "/err"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [program] + args
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    p.standardOutput = out
    p.standardError = err
    if let stdin {
        p.standardInput = FileHandle(forReadingAtPath: stdin)
    } else {
        p.standardInput = FileHandle.nullDevice
    }
    try p.run()
    try? out.close()
    try? err.close()
    let deadline = monotonicSeconds() + timeout
    var timedOut = false
    while p.isRunning {
        if monotonicSeconds() > deadline {
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
            break
        }
        usleep(5_000)
    }
    p.waitUntilExit()
    let data = (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data()
    let errText = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return CommandResult(status: p.terminationStatus, stdout: data, stderr: errText, timedOut: timedOut)
}

/// A curl answer: status, HTTP version, headers (lower-cased names) and body.
public struct CurlResponse: Sendable {
    public let status: Int
    public let httpVersion: String
    public let headers: [String: String]
    public let body: Data
    public let exitCode: Int32
    public let stderr: String

    public var text: String { String(decoding: body, as: UTF8.self) }
    public func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any], "not a JSON object: \(text.prefix(300))")
    }
}

/// curl with the status line and headers written to a file, the body to another.
public func curl(_ args: [String], timeout: Double = 60) throws -> CurlResponse {
    let dir = temporaryDirectory("curl")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let headerPath = dir + "/h", bodyPath = dir + "/b"
    let r = try runCommand("curl", ["-sS", "-D", headerPath, "-o", bodyPath, "-w", "%{http_code} %{http_version}"] + args,
                           timeout: timeout)
    let parts = r.text.split(separator: " ")
    let status = parts.first.flatMap { Int($0) } ?? 0
    let version = parts.count > 1 ? String(parts[1]) : ""
    var headers: [String: String] = [:]
    let headerText = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
    for line in headerText.components(separatedBy: "\r\n") {
        guard let colon = line.firstIndex(of: ":"), !line.hasPrefix(":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))) ?? Data()
    return CurlResponse(status: status, httpVersion: version, headers: headers, body: body, exitCode: r.status, stderr: r.stderr)
}
