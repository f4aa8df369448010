import Foundation
import Synchronization

/// What a bearer token may do. Each route declares the one scope it needs (RouteTable).
public enum Scope: String, CaseIterable, Sendable {
    /// classify, embed, infer, invocations
    case inference
    /// models, metadata, config, statistics, metrics, the OpenAPI document
    case metadata
    /// the repository, model load/unload, the benchmark
    case admin
}

/// Bearer-token access control from a token file: one token a line, `<token> <scope>[,<scope>...]`,
/// `#` starting a comment. Tokens are compared in constant time and never logged; the file is
/// re-read on SIGHUP (a broken file keeps the tokens in force and reports why).
public final class AccessControl: Sendable {
    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    struct Entry: Sendable {
        let token: [UInt8]
        let scopes: Set<Scope>
    }

    /// Longer tokens are refused when the file is read: comparing a fixed width keeps the
    /// comparison's time independent of where a guess goes wrong.
    static let maxTokenBytes = 512

    public let path: String
    /// Whether health and readiness need a token too (default: open, for probes).
    public let protectHealth: Bool
    private let entries: Mutex<[Entry]>

    public init(tokenFile path: String, protectHealth: Bool = false) throws {
        self.path = path
        self.protectHealth = protectHealth
        entries = Mutex(try Self.read(path))
    }

    public var tokenCount: Int { entries.withLock { $0.count } }

    /// Re-reads the token file; on error the tokens in force stay.
    public func reload() throws {
        let fresh = try Self.read(path)
        entries.withLock { $0 = fresh }
    }

    static func read(_ path: String) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw FileError(description: "cannot read the token file \(path)")
        }
        var out: [Entry] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw FileError(description: "\(path):\(number + 1): expected `<token> <scope>[,<scope>...]`")
            }
            let token = Array(fields[0].utf8)
            guard token.count >= 16, token.count <= maxTokenBytes else {
                throw FileError(description: "\(path):\(number + 1): a token must have 16 to \(maxTokenBytes) characters")
            }
            var scopes: Set<Scope> = []
            for name in fields[1].split(separator: ",") {
                guard let scope = Scope(rawValue: String(name)) else {
                    throw FileError(description: "\(path):\(number + 1): unknown scope \(name); scopes are inference, metadata, admin")
                }
                scopes.insert(scope)
            }
            out.append(Entry(token: token, scopes: scopes))
        }
        guard !out.isEmpty else { throw FileError(description: "\(path) holds no token") }
        return out
    }

    public enum Decision: Equatable {
        case allowed
        /// No token, or one that is not in the file: 401.
        case unauthenticated
        /// A valid token without the scope: 403.
        case forbidden
    }

    /// The decision for an `Authorization` header value on a route needing `scope`.
    public func decide(authorization: String?, scope: Scope) -> Decision {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            return .unauthenticated
        }
        let presented = Array(authorization.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        var match: Set<Scope>?
        for entry in entries.withLock({ $0 }) where Self.constantTimeEqual(presented, entry.token) {
            match = entry.scopes
        }
        guard let scopes = match else { return .unauthenticated }
        return scopes.contains(scope) ? .allowed : .forbidden
    }

    /// Equal in time that depends on neither where the first difference is nor the tokens'
    /// contents: both are compared over the same fixed width, lengths folded in.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: a.count ^ b.count) | (a.count > maxTokenBytes ? 1 : 0)
        for i in 0 ..< maxTokenBytes {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            difference |= UInt(x ^ y)
        }
        return difference == 0
    }
}
