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
    /// Each stage against its bound, from the same profiled pass (CPU only).
    public var roofline: [StageRoofline]?
    /// The backend's reference sgemm (GFLOP/s), timed in a burst after each timed pass and
    /// reported as the median: on a shared machine the rate swings by half within minutes,
    /// so the model is compared with a reference measured under the same conditions.
    public var sgemmAlongsideGflopsPerSecond: Double?
}

/// One stage of a pass against the roofline: its work, its time, and the least time the
/// machine allows for that work, whichever of the sgemm rate (FLOPs) and the copy bandwidth
/// (bytes) binds; `fractionOfBound` 1 means the stage runs at its bound.
public struct StageRoofline: Sendable, Codable {
    public var stage: String
    /// Per pass, all blocks.
    public var milliseconds: Double
    public var gflop: Double
    public var megabytes: Double
    public var gflopsPerSecond: Double
    public var gbPerSecond: Double
    /// "compute" or "memory".
    public var bound: String
    public var boundMilliseconds: Double
    public var fractionOfBound: Double

    /// `sgemm` GFLOP/s and `copy` GB/s measured in the same run.
    public static func table(_ a: Architecture, batch: Int, height: Int, width: Int, milliseconds: [StageProfile.Stage: Double],
                             sgemm: Double, copy: Double) -> [StageRoofline] {
        let costs = a.stageCosts(batch: batch, height: height, width: width)
        return StageProfile.Stage.allCases.compactMap { stage in
            guard let ms = milliseconds[stage], ms > 0, let cost = costs[stage] else { return nil }
            let compute = cost.flops / (sgemm * 1e9) * 1e3, memory = cost.bytes / (copy * 1e9) * 1e3
            let bound = max(compute, memory)
            return StageRoofline(stage: stage.rawValue, milliseconds: ms, gflop: cost.flops / 1e9, megabytes: cost.bytes / 1e6,
                                 gflopsPerSecond: cost.flops / ms / 1e6, gbPerSecond: cost.bytes / ms / 1e6,
                                 bound: compute >= memory ? "compute" : "memory", boundMilliseconds: bound,
                                 fractionOfBound: bound / ms)
        }
    }
}

public enum ResolutionBenchmark {
    /// Times `iterations` passes after `warmup` untimed ones; `shouldStop` is polled between
    /// passes (the server stops a benchmark when inference traffic arrives). The input is
    /// loaded where the backend computes first: a GPU's timings leave out host transfers.
    /// The per-stage breakdown needs the CPU engine's profiler; other backends report none.
    /// `sgemm` (GFLOP/s) bounds the compute-bound stages of the roofline; the copy bandwidth
    /// is measured here, at the size of the pass's largest per-block buffer. `referenceGemm`,
    /// when given, is timed after each timed pass (`sgemmAlongsideGflopsPerSecond`).
    public static func measure(_ model: VisionMamba, name: String, resolution: Int, batch: Int, warmup: Int, iterations: Int,
                               backend: any ComputeBackend = CPUBackend.shared, sgemm: Double? = nil,
                               referenceGemm: (() throws -> Double)? = nil,
                               shouldStop: () -> Bool = { false }) throws -> BenchmarkMeasurement? {
        let a = model.architecture
        let pass = try backend.makePass(for: model, batch: batch, height: resolution, width: resolution)
        var state: UInt32 = 12345
        let input = (0 ..< batch * a.inChannels * resolution * resolution).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
        try input.withUnsafeBufferPointer { try pass.load(input: $0.baseAddress!) }
        var seconds: [Double] = [], references: [Double] = []
        var breakdown: [String: Double] = [:]
        for i in 0 ..< warmup + iterations {
            if shouldStop() { return nil }
            let start = DispatchTime.now().uptimeNanoseconds
            try pass.runLoaded()
            guard i >= warmup else { continue }
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            if let referenceGemm { references.append(try referenceGemm()) }
        }
        let reference = references.isEmpty ? nil : Self.median(references)
        var roofline: [StageRoofline]?
        if let profiling = pass as? StageProfiling {
            let perPass = try profiling.profileStages()
            for (stage, ms) in perPass {
                breakdown[stage.rawValue] = stage == .patchEmbed || stage == .head ? ms : ms / Double(a.depth)
            }
            // The compute bound is the sgemm timed alongside these passes when there is one.
            if let sgemm = reference ?? sgemm, backend is CPUBackend {
                let xz = ActivationShape(a, batch: batch, height: resolution, width: resolution)
                let copy = copyBandwidth(bytes: Activation.xz.elements(xz) * 4)
                roofline = StageRoofline.table(a, batch: batch, height: resolution, width: resolution, milliseconds: perPass,
                                               sgemm: sgemm, copy: copy)
            }
        }
        if seconds.isEmpty { return nil }
        seconds.sort()
        let median = Self.median(seconds)
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
            speedupOverVimPercent: nil, breakdown: breakdown, roofline: roofline,
            sgemmAlongsideGflopsPerSecond: reference)
    }

    /// The median of `values` (the mean of the middle two for an even count); not empty.
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted(), n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// A STREAM-like copy over the engine's threads: GB/s of bytes read plus bytes written,
    /// copying `bytes` (at least 1 MiB) again and again for `seconds`.
    public static func copyBandwidth(bytes: Int, seconds: Double = 0.15) -> Double {
        let count = max(bytes, 1 << 20) / 4
        let source = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        let target = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { source.deallocate(); target.deallocate() }
        source.initialize(repeating: 1)
        target.initialize(repeating: 0)
        let (from, to) = (source.baseAddress!, target.baseAddress!)
        func copy() {
            Parallel.ranges(count, grain: 1 << 14) { r in (to + r.lowerBound).update(from: from + r.lowerBound, count: r.count) }
        }
        copy()
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            copy()
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        return Double(2 * count * 4) * Double(runs) / elapsed / 1e9
    }

    /// The engine's sgemm (`GemmLibrary.current`) through its own row split, on the in_proj shape of FastVim-T
    /// at batch 8 with the weight laid out as the engine keeps it, (K, N): the rate the
    /// whole-model FLOP rate is compared with (multiply-add = 1 FLOP).
    public static func sgemmRate(seconds: Double = 0.25) -> Double {
        let m = 8 * 196, n = 768, k = 192
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    gemmNN(pc.baseAddress!, ldOut: n, pa.baseAddress!, lda: k, pb.baseAddress!, ldb: n, m: m, n: n, k: k)
                    repeat {
                        gemmNN(pc.baseAddress!, ldOut: n, pa.baseAddress!, lda: k, pb.baseAddress!, ldb: n, m: m, n: n, k: k)
                        runs += 1
                        elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    } while elapsed < seconds
                }
            }
        }
        return Double(m * n * k) * Double(runs) / elapsed / 1e9
    }
}
