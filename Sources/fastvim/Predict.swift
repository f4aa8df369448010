import ArgumentParser
import FastVimEngine
import FastVimServing
import Foundation

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify image files (JPEG, PNG).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Image files (JPEG, PNG).")
    var image: [String] = []

    @Option(name: .long, parsing: .upToNextOption,
            help: "For channel (microscopy) models: one grayscale PNG per channel, in channel order, forming one image.")
    var channels: [String] = []

    @Option(name: .customLong("top-k"), help: "Classes to report per image.")
    var topK = 5

    @Option(help: "Labels file, one class name per line (default: the model config's labels, or ImageNet-1k for 1000 classes).")
    var labels: String?

    @Flag(help: "Print a JSON array, one object per image.")
    var json = false

    @Flag(help: "Include the raw logits (with --json).")
    var logits = false

    @Option(help: "Images per forward pass.")
    var batchSize = 8

    func run() throws {
        let bundle = try model.bundle(labels: labels, backend: try device.backend())
        guard bundle.model.architecture.numClasses > 0 else {
            throw ValidationError("this checkpoint has no classification head")
        }
        if !bundle.acceptsImages || !channels.isEmpty {
            return try predictChannels(bundle)
        }
        guard !image.isEmpty else { throw ValidationError("give at least one --image") }
        let classifier = Classifier(bundle: bundle, maxBatch: min(max(1, batchSize), image.count))
        let classes = bundle.model.architecture.numClasses
        var results: [[String: Any]] = []
        var refused = 0
        var pending: [String] = []

        func flush() throws {
            guard !pending.isEmpty else { return }
            let out = try classifier.run(count: pending.count)
            for (i, name) in pending.enumerated() {
                let row = out[out.startIndex + i * classes ..< out.startIndex + (i + 1) * classes]
                let top = Ranking.topK(row, k: topK, labels: bundle.labels)
                var entry: [String: Any] = [
                    "image": name,
                    "top_k": top.map(\.json),
                ]
                if logits { entry["logits"] = row.map { Double($0) } }
                results.append(entry)
                if !json {
                    print("\(name): " + top.map { String(format: "%@ (%d) %.4f", $0.label, $0.index, $0.probability) }
                        .joined(separator: ", "))
                }
            }
            pending.removeAll()
        }

        for path in image {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("fastvim: \(path): cannot read file\n".utf8))
                refused += 1
                continue
            }
            do {
                try classifier.load(Array(data), slot: pending.count)
                pending.append(path)
            } catch {
                FileHandle.standardError.write(Data("fastvim: \(path): \(error)\n".utf8))
                refused += 1
                continue
            }
            if pending.count == classifier.maxBatch { try flush() }
        }
        try flush()
        if json { try printJSON(results) }
        if refused > 0 { throw ExitCode(1) }
    }

    /// One multi-channel image from its channel files.
    private func predictChannels(_ bundle: ModelBundle) throws {
        let n = bundle.model.architecture.inChannels
        guard channels.count == n else {
            throw ValidationError("this model takes \(n)-channel images: give --channels with \(n) grayscale PNGs in channel order")
        }
        var files: [[UInt8]] = []
        for path in channels {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot read file") }
            files.append(Array(data))
        }
        let (input, h, w) = try bundle.channelTensor(files)
        let out = try bundle.model.logits(input: input, batch: 1, height: h, width: w)
        let top = Ranking.topK(out[...], k: topK, labels: bundle.labels)
        if json {
            var entry: [String: Any] = [
                "image": channels, "top_k": top.map(\.json),
            ]
            if logits { entry["logits"] = out.map { Double($0) } }
            try printJSON([entry])
        } else {
            print(top.map { String(format: "%@ (%d) %.4f", $0.label, $0.index, $0.probability) }.joined(separator: ", "))
        }
    }
}
