@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

@Suite struct BenchmarkTests {
    static func architecture(_ name: String) throws -> Architecture {
        let model = try #require(StandardModel(name: name))
        return try VisionMamba(checkpoint: Checkpoint(random: model)).architecture
    }

    /// The paper's counts at 224: about 1.8 G for Vim-T and 1.17 G for FastVim-T (35% fewer).
    @Test func analyticFLOPsMatchThePaper() throws {
        let vim = try Self.architecture("vim-t").flops(height: 224, width: 224).total / 1e9
        let fast = try Self.architecture("fastvim-t").flops(height: 224, width: 224).total / 1e9
        #expect(abs(vim - 1.8) < 0.05, "Vim-T \(vim) GFLOPs")
        #expect(abs(fast - 1.17) < 0.05, "FastVim-T \(fast) GFLOPs")
        // The saving grows with resolution (the paper: 35% at 224 to 38.5% at 2048).
        let big = try Self.architecture("fastvim-t").flops(height: 2048, width: 2048).total
            / Self.architecture("vim-t").flops(height: 2048, width: 2048).total
        #expect(1 - fast / vim < 1 - big)
    }

    @Test func standardModelsHaveThePublishedParameterCounts() throws {
        let t = try VisionMamba(checkpoint: Checkpoint(random: try #require(StandardModel(name: "fastvim-t"))))
        #expect(t.parameterCount == 7_166_056)
        let s = try VisionMamba(checkpoint: Checkpoint(random: try #require(StandardModel(name: "fastvim-s"))))
        #expect(s.parameterCount == 25_832_680)
        #expect(StandardModel(name: "vim-t")?.family == .vimLN && StandardModel(name: "vim-t-orig")?.family == .vim)
        #expect(StandardModel(name: "fastvim-x") == nil && StandardModel(name: "resnet-50") == nil)
    }

    @Test func measurementReportsEveryStage() throws {
        let model = try VisionMamba(checkpoint: Checkpoint(random: try #require(StandardModel(name: "fastvim-t"))))
        let m = try #require(try ResolutionBenchmark.measure(model, name: "fastvim-t", resolution: 64, batch: 2, warmup: 0, iterations: 2))
        #expect(m.iterations == 2 && m.imagesPerSecond > 0 && m.imagesPerSecondMin <= m.imagesPerSecondMax)
        for stage in ["in_proj", "conv", "pool", "param_projection", "scan", "repeat_skip_combine_norm_gate", "out_proj", "norms"] {
            #expect((m.breakdown[stage] ?? 0) > 0, "no time for \(stage)")
        }
        #expect(m.peakMemoryBytes > model.parameterCount * 4)
        // Tiled, the timed passes run on a tiled-only workspace; the breakdown's profiled pass
        // gets a full one of its own.
        let tiled = CPUBackend(tiling: TokenTiling(target: 4, minimumBytes: 0))
        let t = try #require(try ResolutionBenchmark.measure(model, name: "fastvim-t", resolution: 64, batch: 2, warmup: 0, iterations: 1,
                                                              backend: tiled))
        #expect(t.breakdown["in_proj"] ?? 0 > 0)
        // Profiling a pass must not change its numbers: profiled and plain logits agree.
        let ws = try model.makeWorkspace(batch: 1, height: 64, width: 64)
        let input = [Float](repeating: 0.3, count: 3 * 64 * 64)
        var plain = [Float](repeating: 0, count: 1000), profiled = plain
        input.withUnsafeBufferPointer { model.forward(ws, input: $0.baseAddress!, logits: &plain) }
        ws.profile = StageProfile()
        input.withUnsafeBufferPointer { model.forward(ws, input: $0.baseAddress!, logits: &profiled) }
        #expect(plain == profiled)
    }

    /// The roofline's per-stage costs add up to the analytic FLOPs of the whole pass, every
    /// stage moves bytes, and a measurement with an sgemm rate carries one row per stage.
    @Test func rooflineCostsAddUpToTheModel() throws {
        for name in ["fastvim-t", "vim-t", "fastchannelvim-s"] {
            let a = try Self.architecture(name)
            for (size, batch) in [(224, 1), (512, 8), (96, 3)] {
                let costs = a.stageCosts(batch: batch, height: size, width: size)
                let flops = costs.values.reduce(0) { $0 + $1.flops }
                let expected = a.flops(height: size, width: size).total * Double(batch)
                #expect(abs(flops - expected) <= 1e-9 * expected, "\(name) \(size) batch \(batch): \(flops) vs \(expected)")
                #expect(costs.values.allSatisfy { $0.bytes > 0 })
                #expect((costs[.transpose] != nil) == a.pools && (costs[.pool] != nil) == a.pools)
            }
        }
        let model = try VisionMamba(checkpoint: Checkpoint(random: try #require(StandardModel(name: "fastvim-t"))))
        let m = try #require(try ResolutionBenchmark.measure(model, name: "fastvim-t", resolution: 64, batch: 2, warmup: 0, iterations: 1,
                                                             sgemm: 50))
        let rows = try #require(m.roofline)
        #expect(Set(rows.map(\.stage)) == Set(StageProfile.Stage.allCases.map(\.rawValue)))
        #expect(rows.allSatisfy { $0.milliseconds > 0 && $0.boundMilliseconds > 0 && ($0.bound == "compute" || $0.bound == "memory") })
    }
}
