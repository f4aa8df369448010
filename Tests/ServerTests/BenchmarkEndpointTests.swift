import Foundation
import Testing
import TestSupport

extension ServerTests {
    /// GET /v1/benchmark: off by default, one at a time, every format.
    @Suite struct BenchmarkEndpoint {
        @Test func offUnlessEnabled() throws {
            try withServer(Paths.smallModelArgs()) { s in
                let r = try curl([s.base + "/v1/benchmark"])
                #expect(r.status == 404 && r.text.contains("--enable-benchmark"))
            }
        }

        @Test func runsTheComparisonAndRefusesASecondAtOnce() throws {
            try withServer(Paths.smallModelArgs() + ["--enable-benchmark"]) { s in
                let r = try curl([s.base + "/v1/benchmark?resolutions=32,64&iterations=1&warmup=0"])
                #expect(r.status == 200, "\(r.text.prefix(300))")
                let json = try r.json()
                let results = try #require(json["results"] as? [[String: Any]])
                #expect(results.count == 4)
                #expect(results.contains { $0["model"] as? String == "fastvim-t" && $0["speedup_over_vim_percent"] != nil })
                let served = try curl([s.base + "/v1/benchmark?models=small&resolutions=64&iterations=1&format=csv"])
                #expect(served.status == 200 && served.headers["content-type"]?.hasPrefix("text/csv") == true)
                #expect(try curl([s.base + "/v1/benchmark?format=pdf"]).status == 400)
                for rounds in ["0", "21", "two"] { #expect(try curl([s.base + "/v1/benchmark?rounds=\(rounds)"]).status == 400) }
                let twice = try curl([s.base + "/v1/benchmark?resolutions=32&iterations=1&warmup=0&rounds=2"]).json()
                #expect(twice["rounds"] as? Int == 2 && (twice["results"] as? [[String: Any]])?.count == 2)
                let gpu = try curl([s.base + "/v1/benchmark?device=cuda&resolutions=32"])
                #expect(gpu.status == 400 && gpu.text.contains("device cuda is not the one"), "\(gpu.status) \(gpu.text.prefix(200))")
                #expect(try curl([s.base + "/v1/benchmark?models=../../etc/passwd&resolutions=64"]).status == 400)

                // A long run in the background, then a second request: 409.
                let done = DispatchSemaphore(value: 0)
                let base = s.base
                Thread.detachNewThread {
                    _ = try? curl([base + "/v1/benchmark?resolutions=512,768&iterations=2"], timeout: 120)
                    done.signal()
                }
                usleep(500_000)
                let second = try curl([s.base + "/v1/benchmark?resolutions=32"])
                #expect(second.status == 409, "\(second.status) \(second.text.prefix(200))")
                // Inference traffic stops the running benchmark; the request itself is answered.
                let classify = try curl(["--data-binary", "@" + Paths.image("tiny.png"), s.base + "/v1/classify"])
                #expect(classify.status == 200)
                #expect(done.wait(timeout: .now() + 120) == .success)
            }
        }
    }
}
