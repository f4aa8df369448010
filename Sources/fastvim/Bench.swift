import ArgumentParser
import FastVimEngine
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time forward passes (images/s) of standard configurations or a checkpoint, side by side in one run."
    )

    @Option(help: "Comma-separated models: \(StandardModel.names.joined(separator: ", ")) (random weights), or a checkpoint path.")
    var models: String = "fastvim-t,vim-t"

    @Option(help: "Comma-separated input resolutions (square).")
    var resolutions: String = "224"

    @Option(help: "Comma-separated batch sizes.")
    var batch: String = "1,8"

    @Option(help: "Untimed warm-up iterations.")
    var warmup: Int = 2

    @Option(help: "Timed iterations (the report gives their median, min and max).")
    var iterations: Int = 10

    @Option(help: "Compute threads (default: one per active core).")
    var threads: Int?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        if let threads { Parallel.setWidth(threads) }
        let sizes = resolutions.split(separator: ",").compactMap { Int($0) }
        let batches = batch.split(separator: ",").compactMap { Int($0) }
        guard !sizes.isEmpty, !batches.isEmpty, iterations > 0 else { throw ValidationError("nothing to run") }
        var results: [ForwardBenchmark.Result] = []
        for name in models.split(separator: ",").map(String.init) {
            for size in sizes {
                let model: VisionMamba
                if let standard = StandardModel(name: name) {
                    model = try VisionMamba(checkpoint: Checkpoint(random: standard))
                } else {
                    model = try VisionMamba(path: name)
                }
                for b in batches {
                    let r = try ForwardBenchmark(batch: b, resolution: size, warmup: warmup, iterations: iterations).run(model, name: name)
                    results.append(r)
                    if !json {
                        print(String(format: "%-12@ %5d px  batch %3d  %9.2f img/s (min %.2f, max %.2f)  %9.2f ms/img",
                                     r.model, r.resolution, r.batch, r.imagesPerSecond, r.imagesPerSecondMin,
                                     r.imagesPerSecondMax, r.msPerImage))
                    }
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(["threads": Parallel.width]), as: UTF8.self))
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
    }
}
