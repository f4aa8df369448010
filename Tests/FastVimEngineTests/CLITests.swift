import Foundation
import Testing

/// The user-facing path: the built `fastvim` binary, its JSON on stdout.
@Suite struct CLITests {
    static var binary: String {
        // Test bundles sit in the build directory next to the executable products.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0 ..< 4 {
            let candidate = dir.appendingPathComponent("fastvim").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/release/fastvim").path
    }

    static func run(_ args: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, data, String(decoding: errData, as: UTF8.self))
    }

    @Test(arguments: GoldenLogitsTests.fixtures.map(\.name))
    func logitsCommandMatchesReference(_ name: String) throws {
        let f = try #require(GoldenLogitsTests.fixtures.first { $0.name == name })
        let r = try Self.run(["logits", "--checkpoint", Fixtures.path(f.checkpoint),
                              "--input", Fixtures.path(f.inputsFile), "--tensor", f.input])
        #expect(r.status == 0, "fastvim logits failed: \(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        #expect(json["shape"] as? [Int] == [f.logits.count, f.logits[0].count])
        let logits = try #require(json["logits"] as? [[Double]]).flatMap { $0.map(Float.init) }
        let expected = f.logits.flatMap { $0 }
        expectClose(logits, expected, atol: 1e-4 * max(1, maxAbs(expected)), "fastvim logits \(name)")
    }

    @Test func inspectReportsArchitecture() throws {
        let r = try Self.run(["inspect", "--checkpoint", Fixtures.path("fastvim_t.pth")])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        #expect(json["parameters"] as? Int == 7_166_056)
        #expect(json["family"] as? String == "fastvim")
        #expect(json["embed_dim"] as? Int == 192)
        #expect(json["depth"] as? Int == 24)
        #expect(json["num_classes"] as? Int == 1000)
        #expect(json["weights"] as? String == "state dict")
    }

    @Test func badCheckpointFailsWithAMessage() throws {
        let path = temporaryPath("not-a-checkpoint.pth")
        write(Array("hello, this is text".utf8), to: path)
        let r = try Self.run(["inspect", "--checkpoint", path])
        #expect(r.status != 0)
        #expect(r.stderr.contains("is not a checkpoint"), "stderr: \(r.stderr)")
    }
}
