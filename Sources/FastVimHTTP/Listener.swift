#if canImport(Glibc)
import Glibc
#endif
import CPosix

/// A listening TCP socket (IPv4 or IPv6) whose readiness means connections to accept.
final class Listener: EventHandler {
    let fd: Int32
    let address: String
    unowned let server: HTTPServer

    init(host: String, port: Int, server: HTTPServer) throws(SystemError) {
        self.server = server
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw SystemError(call: "getaddrinfo(\(host)): \(String(cString: gai_strerror(rc)))", code: EINVAL)
        }
        defer { freeaddrinfo(result) }
        let fd = try Sys.check("socket") { socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0) }
        do {
            Sys.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if info.pointee.ai_family == AF_INET6 { Sys.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            try Sys.check("bind \(host):\(port)") { bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
            try Sys.check("listen") { listen(fd, 1024) }
            try Sys.setNonBlocking(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
        address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The port actually bound (for `--port 0`).
    var boundPort: Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { p -> Int in
            if family == sa_family_t(AF_INET6) {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    func handle(events: UInt32) {
        // Accept a bounded batch per wake-up; the loop comes back while more are pending.
        for _ in 0 ..< 64 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
            }
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE { server.logger.warning("accept: out of file descriptors") }
                return
            }
            server.accepted(client, remote: Self.describe(&storage))
        }
    }

    static func describe(_ storage: inout sockaddr_storage) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return "?" }
        return "\(String(cString: host)):\(String(cString: service))"
    }

    func close() {
        server.loop.unregister(fd)
        Glibc.close(fd)
    }
}
