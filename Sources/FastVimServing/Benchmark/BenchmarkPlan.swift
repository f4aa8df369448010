import FastVimEngine
import Foundation

/// The resolution-scaling comparison of the paper (Vim vs FastVim, 224 to 2048 px), run
/// side by side in one process: the same threads, the same inputs, one after the other.
public struct BenchmarkPlan: Sendable {
    public var models: [String] = ["vim-t", "fastvim-t"]
    public var resolutions: [Int] = [224, 512, 1024, 2048]
    public var batch = 1
    public var warmup = 1
    public var iterations = 3
    /// Times the whole plan is measured. Each (model, resolution) reports its median round,
    /// and FastVim's speedup is the median of the rounds' own ratios: within a round the two
    /// models run seconds apart, so a machine's drift moves both sides of each ratio.
    public var rounds = 1
    public var device = "cpu"
    /// Stop starting new measurements after this long (the report says it was truncated).
    public var maxSeconds: Double?

    public init() {}

    public struct Report: Sendable, Codable {
        public var device: String
        public var threads: Int
        public var sgemmGflopsPerSecond: Double
        public var rounds: Int
        public var truncated: Bool
        public var results: [BenchmarkMeasurement]
    }

    public enum PlanError: Error, CustomStringConvertible {
        case unknownModel(String)
        case device(String)
        case invalid(String)
        case interrupted

        public var description: String {
            switch self {
            case let .unknownModel(m): "unknown model \(m): use \(StandardModel.names.joined(separator: ", ")) or a served model (fastvim bench also takes checkpoint paths)"
            case let .device(d): "device \(d) is not the one this process runs on"
            case let .invalid(s): s
            case .interrupted: "benchmark interrupted by inference traffic"
            }
        }
    }

    public func validate() throws(PlanError) {
        guard !models.isEmpty, !resolutions.isEmpty else { throw .invalid("no models or resolutions") }
        guard resolutions.allSatisfy({ (16 ... 4096).contains($0) }) else { throw .invalid("resolutions must be 16 to 4096 px") }
        guard (1 ... 256).contains(batch), (0 ... 100).contains(warmup), (1 ... 1000).contains(iterations), (1 ... 20).contains(rounds) else {
            throw .invalid("batch 1-256, warmup 0-100, iterations 1-1000, rounds 1-20")
        }
    }

    /// `resolve` maps a name that is not a standard configuration to a model (a served
    /// model, a checkpoint path); nil means unknown.
    public func run(on backend: any ComputeBackend = CPUBackend.shared, resolve: (String) throws -> VisionMamba? = { _ in nil },
                    shouldStop: () -> Bool = { false }, progress: (BenchmarkMeasurement) -> Void = { _ in }) throws -> Report {
        try validate()
        // "cuda" names the first GPU, as --device does.
        guard device == backend.name || (device == "cuda" && backend.name == "cuda:0") else { throw PlanError.device(device) }
        let started = Date()
        var truncated = false
        let sgemm = try backend.referenceGemmRate()
        // Resolutions outer, models inner: the models compared at one size are measured
        // seconds apart, not minutes, on a machine whose speed drifts.
        var loaded: [String: VisionMamba] = [:]
        var rounds: [[BenchmarkMeasurement]] = []
        outer: for _ in 0 ..< self.rounds {
            rounds.append([])
            for size in resolutions {
                for name in models {
                    if let maxSeconds, Date().timeIntervalSince(started) > maxSeconds {
                        truncated = true
                        break outer
                    }
                    if shouldStop() { throw PlanError.interrupted }
                    let model: VisionMamba
                    if let m = loaded[name] {
                        model = m
                    } else if let standard = StandardModel(name: name) {
                        model = try VisionMamba(checkpoint: Checkpoint(random: standard))
                    } else if let m = try resolve(name) {
                        model = m
                    } else {
                        throw PlanError.unknownModel(name)
                    }
                    loaded[name] = model
                    guard let m = try ResolutionBenchmark.measure(model, name: name, resolution: size, batch: batch, warmup: warmup,
                                                                  iterations: iterations, backend: backend, sgemm: sgemm,
                                                                  referenceGemm: { try backend.referenceGemmRate() },
                                                                  shouldStop: shouldStop)
                    else { throw PlanError.interrupted }
                    rounds[rounds.count - 1].append(m)
                    progress(m)
                }
            }
        }
        // Each (model, resolution): its median round (the lower middle one of an even count,
        // so that every figure of a row comes from one measurement); reported model by model.
        func sameRow(_ a: BenchmarkMeasurement, _ b: BenchmarkMeasurement) -> Bool { a.model == b.model && a.resolution == b.resolution }
        var results: [BenchmarkMeasurement] = []
        for m in rounds.joined() where !results.contains(where: { sameRow($0, m) }) {
            let all = rounds.joined().filter { sameRow($0, m) }.sorted { $0.imagesPerSecond < $1.imagesPerSecond }
            results.append(all[(all.count - 1) / 2])
        }
        results.sort { (models.firstIndex(of: $0.model)!, $0.resolution) < (models.firstIndex(of: $1.model)!, $1.resolution) }
        // FastVim-x against Vim-x (post-SSM LayerNorm, as the paper measured) at each resolution,
        // round by round.
        for i in results.indices where results[i].family == "fastvim" || results[i].family == "fastchannelvim" {
            // fastvim-t -> vim-t, fastchannelvim-s-p8 -> channelvim-s-p8: the baseline of the same size and patch.
            let baseline = String(results[i].model.dropFirst(4)), row = results[i]
            let ratios = rounds.compactMap { round -> Double? in
                guard let fast = round.first(where: { sameRow($0, row) }),
                      let vim = round.first(where: { $0.model == baseline && $0.resolution == row.resolution }) else { return nil }
                return fast.imagesPerSecond / vim.imagesPerSecond
            }
            guard !ratios.isEmpty else { continue }
            results[i].speedupOverVimPercent = (ResolutionBenchmark.median(ratios) - 1) * 100
        }
        return Report(device: backend.name, threads: Parallel.width, sgemmGflopsPerSecond: sgemm, rounds: rounds.count,
                      truncated: truncated, results: results)
    }
}
