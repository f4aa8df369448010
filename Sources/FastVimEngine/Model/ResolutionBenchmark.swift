#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// One model at one resolution and batch: timed forward passes, analytic FLOPs, achieved
/// FLOP rate, memory, and a per-block stage breakdown from one extra profiled pass.
public struct BenchmarkMeasurement: Sendable, Codable {
    public var model: String
    public var family: String
    public var resolution: Int
    public var batch: Int
    public var iterations: Int
    public var imagesPerSecond: Double
    public var imagesPerSecondMin: Double
    public var imagesPerSecondMax: Double
    public var msPerImage: Double
    /// Analytic GFLOPs per image (multiply-add = 1 FLOP).
    public var gflops: Double
    public var gflopsPerSecond: Double
    /// Activation buffers plus weights: the engine's own memory for this run.
    public var peakMemoryBytes: Int
    /// The process's resident high-water mark after this run (never decreases).
    public var processPeakRSSBytes: Int
    /// FastVim's speedup over the Vim of the same size at this resolution, when both ran.
    public var speedupOverVimPercent: Double?
    /// Milliseconds per block (per pass for patch_embed and head) of each stage.
    public var breakdown: [String: Double]
}

public enum ResolutionBenchmark {
    /// Times `iterations` passes after `warmup` untimed ones; `shouldStop` is polled between
    /// passes (the server stops a benchmark when inference traffic arrives). The input is
    /// loaded where the backend computes first: a GPU's timings leave out host transfers.
    /// The per-stage breakdown needs the CPU engine's profiler; other backends report none.
    public static func measure(_ model: VisionMamba, name: String, resolution: Int, batch: Int, warmup: Int, iterations: Int,
                               backend: any ComputeBackend = CPUBackend.shared,
                               shouldStop: () -> Bool = { false }) throws -> BenchmarkMeasurement? {
        let a = model.architecture
        let pass = try backend.makePass(for: model, batch: batch, height: resolution, width: resolution)
        var state: UInt32 = 12345
        let input = (0 ..< batch * a.inChannels * resolution * resolution).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
        try input.withUnsafeBufferPointer { try pass.load(input: $0.baseAddress!) }
        var seconds: [Double] = []
        var breakdown: [String: Double] = [:]
        for i in 0 ..< warmup + iterations {
            if shouldStop() { return nil }
            let start = DispatchTime.now().uptimeNanoseconds
            try pass.runLoaded()
            if i >= warmup { seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        if let profiling = pass as? StageProfiling {
            for (stage, ms) in try profiling.profileStages() {
                breakdown[stage.rawValue] = stage == .patchEmbed || stage == .head ? ms : ms / Double(a.depth)
            }
        }
        if seconds.isEmpty { return nil }
        seconds.sort()
        let median = seconds.count % 2 == 1 ? seconds[seconds.count / 2] : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        let b = Double(batch)
        let flops = a.flops(height: resolution, width: resolution).total
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let weightBytes = model.parameterCount * 4
        return BenchmarkMeasurement(
            model: name, family: a.family.rawValue, resolution: resolution, batch: batch, iterations: seconds.count,
            imagesPerSecond: b / median, imagesPerSecondMin: b / seconds.last!, imagesPerSecondMax: b / seconds.first!,
            msPerImage: median * 1000 / b, gflops: flops / 1e9, gflopsPerSecond: flops * b / median / 1e9,
            peakMemoryBytes: pass.activationBytes + weightBytes, processPeakRSSBytes: Int(usage.ru_maxrss) * 1024,
            speedupOverVimPercent: nil, breakdown: breakdown)
    }

    /// OpenBLAS sgemm through the engine's own row split, on the in_proj shape of FastVim-T
    /// at batch 8: the rate the whole-model FLOP rate is compared with (multiply-add = 1 FLOP).
    public static func sgemmRate(seconds: Double = 0.5) -> Double {
        let m = 8 * 196, n = 768, k = 192
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: n * k)
        var c = [Float](repeating: 0, count: m * n)
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    gemmNT(pc.baseAddress!, ldOut: n, pa.baseAddress!, lda: k, pb.baseAddress!, ldb: k, m: m, n: n, k: k)
                    repeat {
                        gemmNT(pc.baseAddress!, ldOut: n, pa.baseAddress!, lda: k, pb.baseAddress!, ldb: k, m: m, n: n, k: k)
                        runs += 1
                        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    } while elapsed < seconds
                }
            }
        }
        return Double(m * n * k) * Double(runs) / elapsed / 1e9
    }
}
