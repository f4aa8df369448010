import ArgumentParser
import FastVimServing
import Foundation

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy over an ImageFolder tree (DIR/<class>/<image>): top-1, top-5, images/s, confusions."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @Option(help: "ImageFolder root: one folder per class (named by label, or in class-index order when sorted).")
    var data: String

    @Option(help: "Images per forward pass.")
    var batchSize = 32

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let bundle = try model.bundle(backend: try device.backend())
        guard bundle.model.architecture.numClasses > 0 else { throw ValidationError("this checkpoint has no classification head") }
        let classifier = Classifier(bundle: bundle, maxBatch: max(1, batchSize))
        let result = try Evaluation(directory: data).run(classifier) { path, error in
            FileHandle.standardError.write(Data("fastvim: \(path): \(error)\n".utf8))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
            return
        }
        print(String(format: "images %d (refused %d)  top-1 %.2f%%  top-5 %.2f%%  %.1f images/s",
                     result.images, result.refused, result.top1 * 100, result.top5 * 100, result.imagesPerSecond))
        for c in result.perClass where c.total > 0 {
            print(String(format: "  %-24@ %4d/%-4d %6.2f%%", c.label, c.correct, c.total, 100 * Double(c.correct) / Double(c.total)))
        }
        if !result.confusions.isEmpty {
            print("most frequent confusions (truth -> predicted):")
            for c in result.confusions { print("  \(c.truth) -> \(c.predicted): \(c.count)") }
        }
    }
}
