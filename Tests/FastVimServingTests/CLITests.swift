import Foundation
import Testing
import TestSupport

/// The user-facing path: the built `fastvim` binary, its JSON on stdout.
@Suite struct CLITests {
    static let fixtures = (try? Fixtures.expected()) ?? []

    static var binary: String { FastVimBinary.path }

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

    @Test(arguments: CLITests.fixtures.map(\.name))
    func logitsCommandMatchesReference(_ name: String) throws {
        let f = try #require(CLITests.fixtures.first { $0.name == name })
        let r = try Self.run(["logits", "--checkpoint", Fixtures.path(f.checkpoint),
                              "--input", Fixtures.path(f.inputsFile), "--tensor", f.input])
        #expect(r.status == 0, "fastvim logits failed: \(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        #expect(json["shape"] as? [Int] == [f.logits.count, f.logits.first?.count ?? 0])
        let logits = try #require(json["logits"] as? [[Double]]).flatMap { $0.map(Float.init) }
        let expected = f.logits.flatMap { $0 }
        expectClose(logits, expected, atol: 1e-4 * max(1, maxAbs(expected)), "fastvim logits \(name)")
    }

    /// `selftest` runs every golden fixture on the chosen device; on a machine without a GPU,
    /// `--device cuda` names what is missing, and GPU-only options are refused on the CPU.
    @Test func selftestRunsTheFixturesAndExplainsMissingGPUs() throws {
        let cpu = try Self.run(["selftest", "--device", "cpu", "--fixtures", Fixtures.directory])
        let text = String(decoding: cpu.stdout, as: UTF8.self)
        #expect(cpu.status == 0 && text.contains("all 8 fixtures match"), "\(text) \(cpu.stderr)")
        #expect(text.components(separatedBy: "\nok ").count == 9)
        let precision = try Self.run(["selftest", "--device", "cpu", "--precision", "bf16"])
        #expect(precision.status != 0 && precision.stderr.contains("needs --device cuda"))
        let unknown = try Self.run(["predict", "--device", "tpu", "--image", "x.png"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--device is cpu, cuda or cuda:N"))
        guard !FileManager.default.fileExists(atPath: "/dev/nvidiactl") else { return } // a GPU machine: nothing missing
        let gpu = try Self.run(["selftest", "--device", "cuda:1", "--cuda-library-path", "/nonexistent", "--fixtures", Fixtures.directory])
        #expect(gpu.status != 0 && gpu.stderr.contains("libcuda") && gpu.stderr.contains("/nonexistent/libcuda.so.1"), "\(gpu.stderr)")
        let bench = try Self.run(["bench", "--device", "cuda", "--resolutions", "32"])
        #expect(bench.status != 0 && bench.stderr.contains("the CUDA driver"), "\(bench.stderr)")
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

/// `fastvim predict` as a user runs it: JSON out, clear refusals, non-zero exit.
@Suite struct PredictCLITests {
    @Test func predictJSONMatchesReference() throws {
        let images = ["coffee.jpg", "chelsea.png", "astronaut_progressive.jpg", "tiny.png"]
        let r = try CLITests.run(["predict", "--checkpoint", Fixtures.path("fastvim_t.pth"), "--json", "--logits", "--top-k", "5"]
            + ["--image"] + images.map { try Fixtures.path("images/" + $0) })
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        #expect(json.count == images.count)
        let expected = try #require(try Fixtures.jsonObject("expected_images.json") as? [String: [String: Any]])
        for (entry, name) in zip(json, images) {
            #expect((entry["image"] as? String)?.hasSuffix(name) == true)
            let logits = try #require(entry["logits"] as? [Double]).map(Float.init)
            let ref = try #require(expected[name]?["logits"] as? [Double]).map(Float.init)
            expectClose(logits, ref, atol: 1e-3, "\(name) logits")
            let top = try #require(entry["top_k"] as? [[String: Any]])
            #expect(top.compactMap { $0["index"] as? Int } == expected[name]?["top5"] as? [Int])
            let p = top.compactMap { $0["probability"] as? Double }
            #expect(p.count == 5 && p == p.sorted(by: >) && p.allSatisfy { $0 > 0 && $0 < 1 })
        }
    }

    /// A malformed corpus: each file refused with a one-line message naming it; the others still answered.
    @Test func malformedImagesAreRefusedClearly() throws {
        let coffee = try Fixtures.data("images/coffee.jpg")
        let png = try Fixtures.data("images/chelsea.png")
        var hugePNG = Array(png.prefix(33))
        hugePNG[16 ..< 24] = [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0] // IHDR 100000 x 100000 (CRC now wrong too)
        var hugeJPEG = Array(coffee)
        if let sof = (0 ..< hugeJPEG.count - 9).first(where: { hugeJPEG[$0] == 0xFF && (hugeJPEG[$0 + 1] == 0xC0 || hugeJPEG[$0 + 1] == 0xC2) }) {
            hugeJPEG[sof + 5 ..< sof + 9] = [0xFD, 0xE8, 0xFD, 0xE8] // 65000 x 65000
        }
        let corpus: [(String, [UInt8], String)] = [
            ("empty.jpg", [], ""),
            ("random.png", (0 ..< 4096).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }, ""),
            ("truncated.jpg", Array(coffee.prefix(coffee.count / 3)), ""),
            ("truncated.png", Array(png.prefix(png.count / 2)), ""),
            ("huge.png", hugePNG, ""),
            ("huge.jpg", hugeJPEG, ""),
            ("anim.gif", Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 64), "unsupported image format"),
        ]
        var args = try ["predict", "--checkpoint", Fixtures.path("fastvim_t.pth"), "--json", "--image", Fixtures.path("images/coffee.jpg")]
        for (name, bytes, _) in corpus {
            let path = temporaryPath(name)
            write(bytes, to: path)
            args.append(path)
        }
        let r = try CLITests.run(args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == corpus.count, "stderr: \(r.stderr)")
        for (name, _, phrase) in corpus {
            let line = lines.first { $0.contains(name) }
            #expect(line != nil, "no message for \(name)")
            if !phrase.isEmpty { #expect(line?.contains(phrase) == true, "\(name): \(line ?? "")") }
        }
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
        #expect(json.count == 1, "the good image is still classified")
        // Headers declaring 100000x100000 and 65000x65000 are refused before allocating:
        // no child process of this test ever came near 4 GB.
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        #expect(usage.ru_maxrss < 4 << 20, "a child reached \(usage.ru_maxrss) KiB resident")
    }
}

/// With no --checkpoint, the commands use the bundled model.
@Suite struct DefaultModelCLITests {
    @Test func predictNamesTheRightDigit() throws {
        let dir = Fixtures.repository + "/models/fastvim-digits/samples"
        for label in ["0", "3", "7", "9"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/" + label).sorted()
            let r = try CLITests.run(["predict", "--json", "--top-k", "1", "--image", dir + "/" + label + "/" + files[0]])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
            let top = try #require(json.first?["top_k"] as? [[String: Any]])
            #expect(top.first?["label"] as? String == label)
        }
    }
}

/// `fastvim features`: pooled features, and the masked encoder's latent with --keep.
@Suite struct FeaturesCLITests {
    @Test func maskedLatentMatchesReference() throws {
        let r = try CLITests.run(["features", "--checkpoint", Fixtures.path("fastmaskvim_small.ckpt"),
                                  "--input", Fixtures.path("inputs_d.safetensors"), "--tensor", "fastmaskvim_small.input",
                                  "--keep", "fastmaskvim_small.ids_keep"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        #expect(json["shape"] as? [Int] == [2, 9, 64])
        let latent = try #require(json["features"] as? [[[Double]]]).flatMap { $0.flatMap { $0.map(Float.init) } }
        let python = """
        import json, struct, sys
        b = open(sys.argv[1], 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
        e = h['fastmaskvim_small.latent']; s, t = e['data_offsets']
        print(json.dumps(list(struct.unpack('<%df' % ((t - s) // 4), b[8 + n + s:8 + n + t]))))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", python, try Fixtures.path("inputs_d.safetensors")]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [Double]).map(Float.init)
        expectClose(latent, expected, atol: 1e-4 * max(1, maxAbs(expected)), "fastvim features --keep")
    }
}
