import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension ServerTests {
    /// Bearer tokens and scopes through the real binary, and mutual TLS with certificates the
    /// test makes itself.
    @Suite struct Access {
        static let inference = "inference-token-0123456789abcdef"
        static let metadata = "metadata-token-0123456789abcdef"
        static let admin = "admin-token-0123456789abcdef-xyz"
        static let everything = "all-scopes-token-0123456789abcdef"

        static func tokenFile() -> String {
            let path = Paths.tempDir("tokens") + "/tokens"
            write(Array("""
            # scopes per token
            \(inference) inference
            \(metadata) metadata   # metrics, models, config
            \(admin) admin
            \(everything) inference,metadata,admin

            """.utf8), to: path)
            return path
        }

        /// One request per route of the OpenAPI document, with each token: exactly the routes
        /// of a token's scopes answer with something other than 401/403.
        @Test func eachScopeAdmitsExactlyItsRoutes() throws {
            let document = try #require(try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: Fixtures.repository + "/Sources/FastVimServing/Resources/openapi.json"))) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let scopeOf: (String) -> String? = { path in
                if path.hasSuffix("/health/live") || path.hasSuffix("/health/ready") || path.hasSuffix("/ready") || path == "/ping" { return nil }
                if path.hasSuffix("/infer") || path.hasSuffix("/classify") || path.hasSuffix("/embed") || path == "/invocations" { return "inference" }
                if path == "/v1/benchmark" || path.hasPrefix("/v2/repository") { return "admin" }
                return "metadata"
            }
            let tokens: [(String?, Set<String>)] = [(nil, []), ("not-a-token-0123456789abcdef", []), (Self.inference, ["inference"]),
                                                     (Self.metadata, ["metadata"]), (Self.admin, ["admin"]),
                                                     (Self.everything, ["inference", "metadata", "admin"])]
            try withServer(Paths.smallModelArgs() + ["--auth-token-file", Self.tokenFile()]) { s in
                #expect(!s.log.contains(Self.admin) && !s.log.contains(Self.inference), "a token reached the log")
                for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
                    let path = template.replacingOccurrences(of: "{model}", with: "small")
                        .replacingOccurrences(of: "{name}", with: "small").replacingOccurrences(of: "{version}", with: "1")
                    for method in operations.keys.sorted() where method != "options" {
                        let needed = scopeOf(template)
                        for (token, scopes) in tokens {
                            var args = ["-X", method.uppercased(), "--max-time", "20"]
                            if let token { args += ["-H", "authorization: Bearer \(token)"] }
                            if method == "post" { args += ["--data-binary", "{}"] }
                            // The benchmark refuses bad parameters (400) before running anything.
                            args.append(s.base + path + (template == "/v1/benchmark" ? "?batch=oops" : ""))
                            let r = try curl(args)
                            let admitted = needed.map { scopes.contains($0) } ?? true
                            if admitted {
                                #expect(r.status != 401 && r.status != 403, "\(method.uppercased()) \(template) with \(scopes.sorted()): \(r.status) \(r.text.prefix(120))")
                            } else if token == nil || scopes.isEmpty {
                                #expect(r.status == 401 && r.headers["www-authenticate"]?.hasPrefix("Bearer") == true,
                                        "\(method.uppercased()) \(template) without a valid token: \(r.status) \(r.headers)")
                            } else {
                                #expect(r.status == 403, "\(method.uppercased()) \(template) with \(scopes.sorted()): \(r.status)")
                            }
                        }
                    }
                }
                let metrics = try curl(["-H", "authorization: Bearer \(Self.metadata)", s.base + "/metrics"]).text
                #expect(metrics.contains(#"reason="unauthenticated""#) && metrics.contains(#"reason="forbidden""#))
            }
        }

        @Test func sighupReloadsTokensAndHealthCanBeClosed() throws {
            let file = Self.tokenFile()
            try withServer(Paths.smallModelArgs() + ["--auth-token-file", file, "--protect-health"]) { s in
                #expect(try curl([s.base + "/v2/health/ready"]).status == 401)
                #expect(try curl(["-H", "authorization: Bearer \(Self.metadata)", s.base + "/v2/health/ready"]).status == 200)
                write(Array("\(Self.admin) admin,metadata\n".utf8), to: file)
                s.signal(SIGHUP)
                var reloaded = false
                for _ in 0 ..< 50 where !reloaded {
                    usleep(100_000)
                    reloaded = try curl(["-H", "authorization: Bearer \(Self.metadata)", s.base + "/v2/models/small"]).status == 401
                }
                #expect(reloaded, "the metadata token still worked after SIGHUP removed it")
                #expect(try curl(["-H", "authorization: Bearer \(Self.admin)", s.base + "/v2"]).status == 200)
                // A broken file keeps the tokens in force.
                write(Array("oops\n".utf8), to: file)
                s.signal(SIGHUP)
                usleep(500_000)
                #expect(try curl(["-H", "authorization: Bearer \(Self.admin)", s.base + "/v2"]).status == 200)
                #expect(s.log.contains("the tokens in force stay"))
            }
            // Without a token file everything is open, and the log says so.
            try withServer(Paths.smallModelArgs()) { s in
                #expect(s.log.contains("access control is off"))
                let open = try curl([s.base + "/v2"])
                #expect(open.status == 200)
            }
        }

        @Test func mutualTLSRequiresACertificateFromTheCA() throws {
            let dir = Paths.tempDir("mtls")
            func openssl(_ args: [String]) throws {
                let r = try runCommand("openssl", args, timeout: 60)
                try #require(r.status == 0, "openssl \(args.first ?? ""): \(r.stderr)")
            }
            // A CA, a server certificate, a client certificate the CA signs, and one it does not.
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"])
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", dir + "/server.key", "-out", dir + "/server.pem"])
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client", "-keyout", dir + "/client.key", "-out", dir + "/client.csr"])
            try openssl(["x509", "-req", "-in", dir + "/client.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "1", "-out", dir + "/client.pem"])
            try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stranger", "-keyout", dir + "/stranger.key", "-out", dir + "/stranger.pem"])
            try withServer(Paths.smallModelArgs() + ["--tls-cert", dir + "/server.pem", "--tls-key", dir + "/server.key", "--tls-client-ca", dir + "/ca.pem"]) { s in
                let https = "https://127.0.0.1:\(s.port)"
                let good = try curl(["-k", "--cert", dir + "/client.pem", "--key", dir + "/client.key", "--data-binary", "@" + Paths.image("tiny.png"), https + "/v1/classify"])
                #expect(good.status == 200, "a certificate from the CA: \(good.status) \(good.stderr)")
                let h2 = try curl(["-k", "--http2", "--cert", dir + "/client.pem", "--key", dir + "/client.key", https + "/v2/health/ready"])
                #expect(h2.status == 200 && h2.httpVersion == "2", "h2 with a client certificate: \(h2.status) \(h2.stderr)")
                let stranger = try curl(["-k", "--cert", dir + "/stranger.pem", "--key", dir + "/stranger.key", https + "/v2/health/ready"])
                #expect(stranger.status == 0 && stranger.exitCode != 0, "an unknown certificate got \(stranger.status)")
                let none = try curl(["-k", https + "/v2/health/ready"])
                #expect(none.status == 0 && none.exitCode != 0, "no certificate got \(none.status)")
                let plain = try curl(["--max-time", "5", s.base + "/v2/health/ready"])
                #expect(plain.status == 0, "plaintext bypassed mutual TLS: \(plain.status)")
                let again = try curl(["-k", "--cert", dir + "/client.pem", "--key", dir + "/client.key", https + "/v2/health/live"])
                #expect(again.status == 200, "the server after refused handshakes: \(again.status)")
            }
        }
    }
}
