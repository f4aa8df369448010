import ArgumentParser
import FastVimEngine
import FastVimServing
import Foundation

extension BenchmarkPlan.Report.Format: ExpressibleByArgument {}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The paper's resolution-scaling comparison: forward-pass throughput of Vim and FastVim, side by side in one run.",
        discussion: """
        Standard configurations run with random weights: \(StandardModel.names.joined(separator: ", ")) \
        (vim-* is Vim with post-SSM LayerNorm, as the paper measured; vim-*-orig the original Vim). \
        A checkpoint path runs that model. FLOPs count a multiply-add as one FLOP.
        """
    )

    @Option(help: "Comma-separated models: standard names or checkpoint paths.")
    var models = "vim-t,fastvim-t"

    @Option(help: "Comma-separated square input sizes in pixels.")
    var resolutions = "224,512,1024,2048"

    @Option(help: "Comma-separated batch sizes (one report row per model, resolution and batch).")
    var batch = "1"

    @OptionGroup var device: DeviceOptions

    @Option(help: "Untimed warm-up passes per measurement.")
    var warmup = 1

    @Option(help: "Timed passes per measurement (the report gives their median, min and max).")
    var iterations = 3

    @Option(help: "Times the whole plan runs: each row reports its median round, FastVim's speedup the median of the rounds' ratios.")
    var rounds = 1

    @Option(help: "Output: json, csv, markdown or svg.")
    var format: BenchmarkPlan.Report.Format = .json

    @Option(help: "Compute threads (default: one per active core).")
    var threads: Int?

    @Option(name: .customLong("max-seconds"), help: "Start no new measurement after this many seconds.")
    var maxSeconds: Double?

    func run() throws {
        if let threads { Parallel.setWidth(threads) }
        let batches = batch.split(separator: ",").compactMap { Int($0) }
        guard !batches.isEmpty else { throw ValidationError("--batch needs at least one size") }
        let backend = try device.backend()
        FileHandle.standardError.write(Data("fastvim bench on \(backend.summary)\n".utf8))
        var combined: BenchmarkPlan.Report?
        for b in batches {
            var plan = BenchmarkPlan()
            plan.models = models.split(separator: ",").map(String.init)
            plan.resolutions = resolutions.split(separator: ",").compactMap { Int($0) }
            plan.batch = b
            plan.device = backend.name
            plan.warmup = warmup
            plan.iterations = iterations
            plan.rounds = rounds
            plan.maxSeconds = maxSeconds
            let report = try plan.run(on: backend, resolve: { path in
                FileManager.default.fileExists(atPath: path) ? try VisionMamba(path: path) : nil
            }, progress: { m in
                FileHandle.standardError.write(Data(String(format: "%@ %d px batch %d: %.2f img/s\n", m.model, m.resolution, m.batch, m.imagesPerSecond).utf8))
            })
            if var c = combined {
                c.results += report.results
                c.truncated = c.truncated || report.truncated
                combined = c
            } else {
                combined = report
            }
        }
        print(combined!.render(format), terminator: "")
    }
}
