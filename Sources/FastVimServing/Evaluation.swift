import FastVimEngine
import Foundation

/// Accuracy of a model over an ImageFolder tree (`DIR/<class>/<image>`), the layout
/// torchvision's ImageFolder reads.
public struct Evaluation: Sendable {
    public struct Result: Sendable, Codable {
        public var images: Int
        public var top1: Double
        public var top5: Double
        public var imagesPerSecond: Double
        public var refused: Int
        /// Per class: [class, correct, total].
        public var perClass: [ClassAccuracy]
        /// The most frequent mistakes, most frequent first.
        public var confusions: [Confusion]
    }

    public struct ClassAccuracy: Sendable, Codable {
        public var label: String
        public var correct: Int
        public var total: Int
    }

    public struct Confusion: Sendable, Codable {
        public var truth: String
        public var predicted: String
        public var count: Int
    }

    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Folder name -> class index: by label when every folder is a label of the model,
    /// else by sorted folder order (ImageFolder's rule) when the counts agree.
    public func classMap(labels: [String]?, classes: Int) throws -> [(folder: String, index: Int)] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw EvaluationError("\(directory) is not a directory")
        }
        let folders = try fm.contentsOfDirectory(atPath: directory).filter {
            var d: ObjCBool = false
            return !$0.hasPrefix(".") && fm.fileExists(atPath: directory + "/" + $0, isDirectory: &d) && d.boolValue
        }.sorted()
        guard !folders.isEmpty else { throw EvaluationError("no class folders in \(directory)") }
        if let labels, folders.allSatisfy(labels.contains) {
            return folders.map { f in (f, labels.firstIndex(of: f)!) }
        }
        guard folders.count == classes else {
            throw EvaluationError("\(folders.count) class folders for a \(classes)-class model, and the folder names are not its labels")
        }
        return folders.enumerated().map { ($1, $0) }
    }

    public func run(_ classifier: Classifier, onRefused: (String, Error) -> Void = { _, _ in }) throws -> Result {
        let bundle = classifier.bundle
        let classes = bundle.model.architecture.numClasses
        let map = try classMap(labels: bundle.labels, classes: classes)
        var files: [(String, Int)] = []
        for (folder, index) in map {
            let dir = directory + "/" + folder
            for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where !name.hasPrefix(".") {
                files.append((dir + "/" + name, index))
            }
        }
        var confusion = [Int: [Int: Int]]()
        var correct1 = 0, correct5 = 0, seen = 0, refused = 0
        var perClass = [Int: (Int, Int)]()
        var pending: [Int] = []
        let start = DispatchTime.now().uptimeNanoseconds
        func flush() throws {
            guard !pending.isEmpty else { return }
            let out = try classifier.run(count: pending.count)
            for (slot, truth) in pending.enumerated() {
                let row = out[out.startIndex + slot * classes ..< out.startIndex + (slot + 1) * classes]
                let top = Ranking.topK(row, k: min(5, classes), labels: nil).map(\.index)
                seen += 1
                if top.first == truth { correct1 += 1 }
                if top.contains(truth) { correct5 += 1 }
                var c = perClass[truth] ?? (0, 0)
                c.0 += top.first == truth ? 1 : 0
                c.1 += 1
                perClass[truth] = c
                if let p = top.first, p != truth { confusion[truth, default: [:]][p, default: 0] += 1 }
            }
            pending.removeAll()
        }
        for (path, truth) in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                refused += 1
                onRefused(path, EvaluationError("cannot read"))
                continue
            }
            do {
                try classifier.load(Array(data), slot: pending.count)
                pending.append(truth)
            } catch {
                refused += 1
                onRefused(path, error)
                continue
            }
            if pending.count == classifier.maxBatch { try flush() }
        }
        try flush()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        func name(_ i: Int) -> String { bundle.labels.flatMap { i < $0.count ? $0[i] : nil } ?? String(i) }
        let mistakes = confusion.flatMap { t, row in row.map { Confusion(truth: name(t), predicted: name($0.key), count: $0.value) } }
            .sorted { $0.count != $1.count ? $0.count > $1.count : ($0.truth, $0.predicted) < ($1.truth, $1.predicted) }
        return Result(
            images: seen, top1: seen > 0 ? Double(correct1) / Double(seen) : 0, top5: seen > 0 ? Double(correct5) / Double(seen) : 0,
            imagesPerSecond: seconds > 0 ? Double(seen) / seconds : 0, refused: refused,
            perClass: map.map { f in
                let c = perClass[f.index] ?? (0, 0)
                return ClassAccuracy(label: name(f.index), correct: c.0, total: c.1)
            },
            confusions: Array(mistakes.prefix(10)))
    }
}

public struct EvaluationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
