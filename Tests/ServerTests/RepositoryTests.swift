import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension ServerTests {
    /// A model repository through the real binary: versions rolled under load with no request
    /// lost, broken checkpoints and paths that leave the repository refused, serving untouched.
    @Suite struct Repository {
        static let digits = Fixtures.repository + "/models/fastvim-digits"

        /// DIR/digits/1/<checkpoint> with the digits model's config and labels.
        static func makeRepository() throws -> String {
            let root = Paths.tempDir("repository") + "/models"
            try FileManager.default.createDirectory(atPath: root + "/digits/1", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: digits + "/fastvim_digits.pth", toPath: root + "/digits/1/fastvim_digits.pth")
            try FileManager.default.copyItem(atPath: digits + "/fastvim_digits.json", toPath: root + "/digits/config.json")
            try FileManager.default.copyItem(atPath: digits + "/labels.txt", toPath: root + "/digits/labels.txt")
            return root
        }

        static func version(_ s: ServerProcess, _ body: String) throws -> String? {
            let r = try curl(["--data-binary", "@" + body, s.base + "/v2/models/digits_image/infer"])
            return try r.json()["model_version"] as? String
        }

        @Test func aVersionRollsUnderLoadWithoutLosingARequest() throws {
            let root = try Self.makeRepository()
            let sample = try #require(FileManager.default.contentsOfDirectory(atPath: Self.digits + "/samples/3").first)
            let image = try Data(contentsOf: URL(fileURLWithPath: Self.digits + "/samples/3/" + sample)).base64EncodedString()
            let body = Paths.tempDir("repo-body") + "/infer.json"
            write(Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1,1],"data":["\#(image)"]}],"outputs":[{"name":"logits"}]}"#.utf8), to: body)
            try withServer(["--model-repository", root, "--model-control-mode", "explicit", "--load-model", "digits"]) { s in
                #expect(try Self.version(s, body) == "1")
                let url = s.base + "/v2/models/digits_image/infer"
                let result = Locked<CommandResult?>(nil)
                let load = Thread {
                    result.with { $0 = try? runCommand("h2load", ["-n", "3000", "-c", "4", "-m", "4", "-d", body, url], timeout: 120) }
                }
                load.start()
                usleep(300_000)
                // Version 2 appears and is loaded while h2load runs; then a broken version 3.
                try FileManager.default.createDirectory(atPath: root + "/digits/2", withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: root + "/digits/1/fastvim_digits.pth", toPath: root + "/digits/2/v2.pth")
                let loaded = try curl(["-X", "POST", s.base + "/v2/repository/models/digits/load"])
                #expect(loaded.status == 200, "load v2: \(loaded.status) \(loaded.text)")
                #expect(try Self.version(s, body) == "2", "new requests did not switch to version 2")
                try FileManager.default.createDirectory(atPath: root + "/digits/3", withIntermediateDirectories: true)
                write(Array("this is not a checkpoint".utf8), to: root + "/digits/3/v3.pth")
                let broken = try curl(["-X", "POST", s.base + "/v2/repository/models/digits/load"])
                #expect(broken.status == 400, "a broken version 3: \(broken.status) \(broken.text)")
                while !load.isFinished { usleep(100_000) }
                let run = try #require(result.with { $0 }, "h2load did not run")
                let counts = Load.h2loadCounts(run.text)
                #expect(counts?.total == 3000 && counts?.succeeded == 3000 && counts?.twoxx == 3000,
                        "requests lost while rolling: \(run.text.split(separator: "\n").filter { $0.hasPrefix("requests:") || $0.hasPrefix("status codes:") })")
                #expect(try Self.version(s, body) == "2", "the broken version 3 replaced version 2")
                let index = try curl(["-X", "POST", s.base + "/v2/repository/index"])
                let entries = try #require(try JSONSerialization.jsonObject(with: index.body) as? [[String: Any]])
                let v3 = entries.first { $0["name"] as? String == "digits" && $0["version"] as? String == "3" }
                #expect(v3?["state"] as? String == "UNAVAILABLE" && (v3?["reason"] as? String)?.isEmpty == false, "index: \(index.text)")
                #expect(try curl([s.base + "/v2/models/digits/versions/3/ready"]).status == 503)
                #expect(try curl([s.base + "/v2/models/digits/versions/2/ready"]).status == 200)
                #expect(s.log.contains("version 3 failed to load"))
            }
        }

        /// Poll control: a new version directory is picked up, and a removed model unloaded.
        @Test func pollModeFollowsTheDirectory() throws {
            let root = try Self.makeRepository()
            let sample = try #require(FileManager.default.contentsOfDirectory(atPath: Self.digits + "/samples/5").first)
            let image = try Data(contentsOf: URL(fileURLWithPath: Self.digits + "/samples/5/" + sample)).base64EncodedString()
            let body = Paths.tempDir("poll-body") + "/infer.json"
            write(Array(#"{"inputs":[{"name":"image","datatype":"BYTES","shape":[1,1],"data":["\#(image)"]}]}"#.utf8), to: body)
            try withServer(["--model-repository", root, "--model-control-mode", "poll", "--repository-poll-seconds", "0.3"]) { s in
                #expect(try Self.version(s, body) == "1")
                try FileManager.default.createDirectory(atPath: root + "/digits/2", withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: root + "/digits/1/fastvim_digits.pth", toPath: root + "/digits/2/v2.pth")
                var switched = false
                for _ in 0 ..< 50 where !switched {
                    usleep(200_000)
                    switched = try Self.version(s, body) == "2"
                }
                #expect(switched, "poll mode did not pick up version 2")
                let control = try curl(["-X", "POST", s.base + "/v2/repository/models/digits/unload"])
                #expect(control.status == 400, "poll mode owns its models: \(control.status)")
                try FileManager.default.removeItem(atPath: root + "/digits")
                var gone = false
                for _ in 0 ..< 50 where !gone {
                    usleep(200_000)
                    gone = try curl([s.base + "/v2/models/digits/ready"]).status == 503
                }
                #expect(gone, "poll mode did not unload a removed model")
            }
        }

        @Test func pathsOutsideTheRepositoryAreRefused() throws {
            let root = try Self.makeRepository()
            // A version whose checkpoint is a link to a file outside, and a model dir linked outside.
            try FileManager.default.createDirectory(atPath: root + "/escape/1", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/escape/1/x.pth", withDestinationPath: Self.digits + "/fastvim_digits.pth")
            try FileManager.default.createSymbolicLink(atPath: root + "/outside", withDestinationPath: Self.digits)
            try withServer(["--model-repository", root, "--model-control-mode", "explicit", "--load-model", "digits"]) { s in
                for name in ["escape", "outside", "..", "%2E%2E", "nope"] {
                    let r = try curl(["-X", "POST", s.base + "/v2/repository/models/\(name)/load"])
                    #expect(r.status == 400 || r.status == 404, "\(name): \(r.status) \(r.text)")
                }
                #expect(try curl([s.base + "/v2/models/escape"]).status == 404)
                #expect(try curl([s.base + "/v2/models/digits/ready"]).status == 200)
                // Unload, then the model is gone until loaded again; control is refused without explicit mode.
                #expect(try curl(["-X", "POST", s.base + "/v2/repository/models/digits/unload"]).status == 200)
                #expect(try curl([s.base + "/v2/models/digits/ready"]).status == 503)
                #expect(try curl(["-X", "POST", s.base + "/v2/repository/models/digits/load"]).status == 200)
            }
            try withServer(["--model-repository", root]) { s in
                let unload = try curl(["-X", "POST", s.base + "/v2/repository/models/digits/unload"])
                #expect(unload.status == 400, "model control without explicit mode: \(unload.status)")
                let ready = try curl([s.base + "/v2/models/digits/ready"])
                #expect(ready.status == 200)
                #expect(s.log.contains("leads outside the repository"), "the refused model is not reported: \(s.logTail)")
            }
        }
    }
}
