import FastVimEngine
import FastVimServing
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct BenchmarkReportTests {
    static let report: BenchmarkPlan.Report? = {
        var plan = BenchmarkPlan()
        plan.models = ["vim-t", "fastvim-t"]
        plan.resolutions = [32, 64]
        plan.warmup = 0
        plan.iterations = 1
        return try? plan.run()
    }()

    @Test func fastVimIsComparedWithVimAtEachResolution() throws {
        let r = try #require(Self.report)
        #expect(r.results.count == 4 && !r.truncated && r.sgemmGflopsPerSecond > 0)
        for m in r.results where m.family == "fastvim" { #expect(m.speedupOverVimPercent != nil) }
        for m in r.results where m.model == "vim-t" { #expect(m.speedupOverVimPercent == nil) }
        // Measured resolution by resolution, reported model by model.
        #expect(r.results.map { "\($0.model)@\($0.resolution)" } == ["vim-t@32", "vim-t@64", "fastvim-t@32", "fastvim-t@64"])
        // Each measurement carries the sgemm reference timed after its passes.
        #expect(r.results.allSatisfy { ($0.sgemmAlongsideGflopsPerSecond ?? 0) > 0 })
    }

    @Test func everyFormatRenders() throws {
        let r = try #require(Self.report)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.render(.json).utf8)) as? [String: Any])
        #expect(json["sgemm_gflops_per_second"] != nil && (json["results"] as? [[String: Any]])?.first?["images_per_second"] != nil)
        let csv = r.render(.csv).split(separator: "\n")
        #expect(csv.count == 5 && csv[0].hasPrefix("model,family,resolution,batch,images_per_second"))
        #expect(Set(csv.map { $0.split(separator: ",", omittingEmptySubsequences: false).count }).count == 1)
        #expect(r.render(.markdown).contains("| fastvim-t | 64 | 1 |"))
        #expect(r.render(.markdown).contains("fastvim-t at 64 px, batch 1: "))
        #expect(csv[0].hasSuffix(",sgemm_alongside_gflops_per_second"))
        let svg = Data(r.render(.svg).utf8)
        let parser = XMLParser(data: svg)
        #expect(parser.parse(), "the SVG is not well-formed XML")
        #expect(r.render(.svg).components(separatedBy: "<polyline").count == 3)
    }

    /// Rounds: one row per model and size (its median round), the speedup from the rounds'
    /// own ratios.
    @Test func roundsReportTheMedianRound() throws {
        var plan = BenchmarkPlan()
        plan.models = ["vim-t", "fastvim-t"]
        plan.resolutions = [32]
        plan.warmup = 0
        plan.iterations = 1
        plan.rounds = 3
        var measured: [BenchmarkMeasurement] = []
        let r = try plan.run(progress: { measured.append($0) })
        #expect(r.rounds == 3 && measured.count == 6 && r.results.map(\.model) == ["vim-t", "fastvim-t"])
        for row in r.results {
            let rates = measured.filter { $0.model == row.model }.map(\.imagesPerSecond).sorted()
            #expect(row.imagesPerSecond == rates[1])
        }
        let ratios = (0 ..< 3).map { measured[2 * $0 + 1].imagesPerSecond / measured[2 * $0].imagesPerSecond }.sorted()
        let speedup = try #require(r.results[1].speedupOverVimPercent)
        #expect(abs(speedup - (ratios[1] - 1) * 100) < 1e-9)
        #expect(r.render(.markdown).contains("3 rounds"))
        plan.rounds = 21
        #expect(throws: BenchmarkPlan.PlanError.self) { try plan.validate() }
    }

    @Test func badPlansAreRefused() {
        var plan = BenchmarkPlan()
        plan.resolutions = [32]
        // A plan for a device other than the one it is run on (a CPU server asked for cuda).
        plan.device = "cuda"
        #expect { try plan.run(on: CPUBackend.shared) } throws: { "\($0)".contains("device cuda is not the one") }
        plan = BenchmarkPlan()
        plan.resolutions = [5000]
        #expect(throws: BenchmarkPlan.PlanError.self) { try plan.validate() }
        plan = BenchmarkPlan()
        plan.models = ["no-such-model"]
        plan.resolutions = [32]
        #expect(throws: BenchmarkPlan.PlanError.self) { try plan.run() }
    }
}
