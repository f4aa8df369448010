import FastVimCUDA
import Foundation
import Testing
import TestSupport

/// `fastvim serve --device cuda` as a user runs it, over the fake driver: the batcher, the
/// routes and the benchmark endpoint unchanged on the CUDA backend.
@Suite(.serialized) struct FakeDriverServingTests {
    static let digits = Fixtures.repository + "/models/fastvim-digits"

    @Test func servesClassificationsAndTheBenchmarkOnTheGPUBackend() throws {
        let fake = try FakeDriverLibrary.shared()
        let cache = try FakeDriverTests.cache.get().directory
        let arguments = ["--device", "cuda", "--cuda-library-path", fake.directory + ":" + FakeDriverTests.nvrtcDirectory,
                         "--kernel-cache", cache, "--checkpoint", Self.digits + "/fastvim_digits.pth", "--enable-benchmark"]
        try withServer(arguments, startTimeout: 120, stopTimeout: 30) { s in
            #expect(s.log.contains("forward passes run on cuda:0"), "\(s.logTail)")
            let list = try curl([s.base + "/v1/models"]).json()["models"] as? [[String: Any]]
            #expect(list?.first?["device"] as? String == "cuda:0")
            // Every sample image is classified as its folder says, one request each, several at once (batched).
            let samples = try FileManager.default.contentsOfDirectory(atPath: Self.digits + "/samples").sorted().prefix(4)
            var files: [(label: String, path: String)] = []
            for label in samples {
                for file in try FileManager.default.contentsOfDirectory(atPath: Self.digits + "/samples/" + label).sorted().prefix(2) {
                    files.append((label, Self.digits + "/samples/\(label)/\(file)"))
                }
            }
            let requests = files
            let answers = Locked([String: String]())
            DispatchQueue.concurrentPerform(iterations: files.count) { i in
                let r = try? curl(["--max-time", "120", "--data-binary", "@" + requests[i].path, s.base + "/v1/classify?top_k=1"], timeout: 130)
                let json = try? r?.json()
                let top = (json?["predictions"] as? [[String: Any]])?.first?["label"] as? String
                answers.with { $0[requests[i].path] = top ?? "status \(r?.status ?? 0)" }
            }
            for f in files { #expect(answers.get[f.path] == f.label, "\(f.path): \(answers.get[f.path] ?? "-")") }
            let metrics = try curl([s.base + "/metrics"]).text
            #expect(metrics.contains(#"fastvim_build_info{device="cuda:0""#) || metrics.contains(#"device="cuda:0""#), "\(metrics.prefix(400))")
            let bench = try curl(["--max-time", "120", s.base + "/v1/benchmark?resolutions=32&iterations=1&warmup=0"], timeout: 130)
            #expect(bench.status == 200, "\(bench.text.prefix(300))")
            let report = try bench.json()
            #expect(report["device"] as? String == "cuda:0")
            #expect((report["results"] as? [[String: Any]])?.count == 2)
        }
    }
}
