import Foundation

/// What the weights cannot tell, from an optional JSON file (`--config FILE`, or
/// `<checkpoint>.json` beside the checkpoint). Every key is optional and documented in the
/// README. Unknown keys are an error, so a typo never silently falls back to a default.
public struct ModelConfig: Sendable, Equatable {
    /// [H, W] the model was trained at (fixes the trained token grid).
    public var imageSize: [Int]?
    /// Patch-embedding stride; defaults to the patch size.
    public var stride: Int?
    public var collapse: Collapse?
    /// Token order of channel models.
    public var scanOrder: ScanOrder?
    public var scalingFactor: Float?
    public var labels: [String]?
    public var name: String?
    /// The raw `preprocessing` object, interpreted by the image pipeline.
    public var preprocessingJSON: Data?

    public static let knownKeys: Set<String> = [
        "name", "image_size", "stride", "collapse", "scaling_factor", "labels", "labels_file", "preprocessing", "scan_order",
    ]

    public init() {}

    /// Reads a config file; `labels_file` is resolved relative to the config's directory.
    public init(contentsOf path: String) throws(CheckpointError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidConfig("cannot read \(path)")
        }
        try self.init(json: data, directory: (path as NSString).deletingLastPathComponent, source: path)
    }

    public init(json data: Data, directory: String = ".", source: String = "config") throws(CheckpointError) {
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw .invalidConfig("\(source) is not a JSON object")
        }
        for key in dict.keys where !Self.knownKeys.contains(key) {
            throw .invalidConfig("unknown key \"\(key)\" in \(source); known keys: \(Self.knownKeys.sorted().joined(separator: ", "))")
        }
        if let v = dict["name"] {
            guard let s = v as? String else { throw .invalidConfig("name must be a string") }
            name = s
        }
        if let v = dict["image_size"] {
            if let n = v as? Int, n > 0 {
                imageSize = [n, n]
            } else if let a = v as? [Int], a.count == 2, a.allSatisfy({ $0 > 0 }) {
                imageSize = a
            } else {
                throw .invalidConfig("image_size must be a positive integer or [height, width]")
            }
        }
        if let v = dict["stride"] {
            guard let n = v as? Int, n > 0 else { throw .invalidConfig("stride must be a positive integer") }
            stride = n
        }
        if let v = dict["collapse"] {
            guard let s = v as? String, let c = Collapse(rawValue: s) else {
                throw .invalidConfig("collapse must be \"mean\" or \"max\"")
            }
            collapse = c
        }
        if let v = dict["scan_order"] {
            guard let s = v as? String, let order = ScanOrder(rawValue: s) else {
                throw .invalidConfig("scan_order must be \"Channel-First\" or \"Spatial-First\"")
            }
            scanOrder = order
        }
        if let v = dict["scaling_factor"] {
            guard let n = v as? NSNumber, n.floatValue.isFinite, n.floatValue > 0 else {
                throw .invalidConfig("scaling_factor must be a positive number")
            }
            scalingFactor = n.floatValue
        }
        if let v = dict["labels"] {
            guard let a = v as? [String] else { throw .invalidConfig("labels must be a list of strings") }
            labels = a
        }
        if let v = dict["labels_file"] {
            guard let file = v as? String else { throw .invalidConfig("labels_file must be a path") }
            let full = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
            guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                throw .invalidConfig("cannot read labels_file \(full)")
            }
            labels = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if labels?.last == "" { labels?.removeLast() }
        }
        if let v = dict["preprocessing"] {
            guard v is [String: Any] else { throw .invalidConfig("preprocessing must be a JSON object") }
            preprocessingJSON = try? JSONSerialization.data(withJSONObject: v)
        }
    }

    /// `--config` if given, else `<checkpoint>.json` or `<checkpoint minus extension>.json` when one exists.
    public static func locate(explicit: String?, checkpoint: String) throws(CheckpointError) -> (ModelConfig, String?) {
        if let explicit { return (try ModelConfig(contentsOf: explicit), explicit) }
        let candidates = [checkpoint + ".json", (checkpoint as NSString).deletingPathExtension + ".json"]
        for beside in candidates where beside != checkpoint && FileManager.default.fileExists(atPath: beside) {
            return (try ModelConfig(contentsOf: beside), beside)
        }
        return (ModelConfig(), nil)
    }
}
