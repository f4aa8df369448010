import Foundation
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

struct SocketError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking TCP client socket to 127.0.0.1, for bytes no well-behaved client would send.
final class RawSocket: @unchecked Sendable {
    let fd: Int32
    private var closed = false

    init(port: Int, receiveTimeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(description: "socket: errno \(errno)") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw SocketError(description: "connect to \(port): errno \(e)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setReceiveTimeout(receiveTimeout)
    }

    deinit { close() }

    func setReceiveTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes everything; false when the peer is gone (EPIPE/ECONNRESET) before the end.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    enum ReadResult: Equatable {
        case bytes([UInt8])
        case closed  // orderly EOF
        case reset  // ECONNRESET and friends
        case timeout
    }

    func receive(max: Int = 65536) -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, max, 0) }
            if n > 0 { return .bytes(Array(buffer[0 ..< n])) }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .timeout }
            return .reset
        }
    }

    /// Everything until EOF (or reset, or `timeout` seconds in all); and how it ended.
    func receiveAll(timeout: Double) -> (bytes: [UInt8], end: ReadResult) {
        // Never done early: it ends with EOF, a reset or the timeout, never without a reason.
        let r = receive(until: { _ in false }, timeout: timeout)
        return (r.bytes, r.end ?? .timeout)
    }

    /// Reads until `done(buffer)` or EOF/timeout.
    func receive(until done: ([UInt8]) -> Bool, timeout: Double) -> (bytes: [UInt8], end: ReadResult?) {
        var out: [UInt8] = []
        let deadline = monotonicSeconds() + timeout
        while !done(out) {
            let left = deadline - monotonicSeconds()
            if left <= 0 { return (out, .timeout) }
            setReceiveTimeout(min(left, 1))
            switch receive() {
            case let .bytes(b): out += b
            case .timeout: continue
            case let end: return (out, end)
            }
        }
        return (out, nil)
    }

    /// Close with an RST (SO_LINGER 0) rather than a FIN.
    func abort() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
}

// MARK: - HTTP/1.1 by hand

struct RawResponse: Sendable {
    let status: Int
    let headers: [String: String]
    let body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Parses one HTTP/1.1 response (Content-Length framed) from the front of `bytes`; nil until complete.
func parseHTTP1Response(_ bytes: [UInt8]) -> RawResponse? {
    let sep: [UInt8] = [13, 10, 13, 10]
    guard bytes.count >= 4, let end = (0 ... bytes.count - 4).first(where: { Array(bytes[$0 ..< $0 + 4]) == sep }) else { return nil }
    let head = String(decoding: bytes[0 ..< end], as: UTF8.self)
    var lines = head.components(separatedBy: "\r\n")
    let statusLine = lines.removeFirst()
    let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    var headers: [String: String] = [:]
    for line in lines {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let length = Int(headers["content-length"] ?? "0") ?? 0
    guard bytes.count >= end + 4 + length else { return nil }
    return RawResponse(status: status, headers: headers, body: Array(bytes[end + 4 ..< end + 4 + length]))
}

/// One request on a new connection (`Connection: close`); nil status 0 when the connection ends without an answer.
func rawHTTP1(port: Int, method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = [],
              timeout: Double = 60) throws -> RawResponse {
    let s = try RawSocket(port: port)
    defer { s.close() }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
    for (n, v) in headers { head += "\(n): \(v)\r\n" }
    head += "\r\n"
    s.send(Array(head.utf8) + body)
    let (bytes, _) = s.receive(until: { parseHTTP1Response($0) != nil }, timeout: timeout)
    return parseHTTP1Response(bytes) ?? RawResponse(status: 0, headers: [:], body: bytes)
}

// MARK: - HTTP/2 by hand

enum H2 {
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let data: UInt8 = 0, headers: UInt8 = 1, rstStream: UInt8 = 3, settings: UInt8 = 4, ping: UInt8 = 6,
               goaway: UInt8 = 7, windowUpdate: UInt8 = 8, continuation: UInt8 = 9
    static let endStream: UInt8 = 1, endHeaders: UInt8 = 4, ack: UInt8 = 1

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
                UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// HPACK integer with an n-bit prefix whose high bits are `first`.
    static func integer(_ value: Int, prefixBits: Int, first: UInt8) -> [UInt8] {
        let maxPrefix = (1 << prefixBits) - 1
        if value < maxPrefix { return [first | UInt8(value)] }
        var out = [first | UInt8(maxPrefix)]
        var v = value - maxPrefix
        while v >= 128 {
            out.append(UInt8(v % 128 + 128))
            v /= 128
        }
        out.append(UInt8(v))
        return out
    }

    static func string(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return integer(b.count, prefixBits: 7, first: 0) + b
    }

    /// Literal header field without indexing, name from the static table.
    static func literal(index: Int, _ value: String) -> [UInt8] {
        integer(index, prefixBits: 4, first: 0) + string(value)
    }

    /// Literal header field without indexing, new name.
    static func literal(name: String, _ value: String) -> [UInt8] {
        [0] + string(name) + string(value)
    }

    /// :method, :path, :scheme, :authority as literals without indexing (static name indices 2, 4, 6, 1).
    static func requestBlock(method: String, path: String) -> [UInt8] {
        literal(index: 2, method) + literal(index: 4, path) + literal(index: 6, "http") + literal(index: 1, "localhost")
    }

    struct Frame {
        let type: UInt8
        let flags: UInt8
        let stream: UInt32
        let payload: [UInt8]
    }

    /// Splits whole frames off the front of `buffer`.
    static func parse(_ buffer: inout [UInt8]) -> [Frame] {
        var frames: [Frame] = []
        while buffer.count >= 9 {
            let length = Int(buffer[0]) << 16 | Int(buffer[1]) << 8 | Int(buffer[2])
            guard buffer.count >= 9 + length else { break }
            let stream = UInt32(buffer[5] & 0x7F) << 24 | UInt32(buffer[6]) << 16 | UInt32(buffer[7]) << 8 | UInt32(buffer[8])
            frames.append(Frame(type: buffer[3], flags: buffer[4], stream: stream, payload: Array(buffer[9 ..< 9 + length])))
            buffer.removeFirst(9 + length)
        }
        return frames
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence: [UInt8]) -> Bool {
        guard !subsequence.isEmpty, count >= subsequence.count else { return false }
        for i in 0 ... count - subsequence.count where self[i] == subsequence[0] {
            if Array(self[i ..< i + subsequence.count]) == subsequence { return true }
        }
        return false
    }
}

/// Raises this process's open-file limit to its hard limit (for a thousand sockets).
func raiseFileLimit(to wanted: UInt) -> UInt {
    var rl = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
    if rl.rlim_cur < wanted {
        rl.rlim_cur = Swift.min(rl.rlim_max, rlim_t(wanted))
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl)
    }
    return UInt(rl.rlim_cur)
}
