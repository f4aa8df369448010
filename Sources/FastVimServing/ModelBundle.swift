import FastVimEngine
import FastVimImages
import Foundation

public enum BundleError: Error, CustomStringConvertible {
    case model(CheckpointError)
    case image(ImageError)
    case config(String)

    public var description: String {
        switch self {
        case let .model(e): return e.description
        case let .image(e): return e.description
        case let .config(s): return "invalid model config: \(s)"
        }
    }
}

/// A model as users deploy it: network, labels and the preprocessing it was trained with.
public final class ModelBundle: Sendable {
    public let name: String
    public let model: VisionMamba
    public let labels: [String]?
    public let pipeline: ImagePipeline
    /// Per-channel mean and std applied to raw (UINT8/UINT16, or channel PNG) inputs scaled to [0, 1].
    public let normalization: ChannelNormalization
    public let checkpointPath: String
    public let configPath: String?
    /// Where its forward passes run: the CPU engine, or a GPU.
    public let backend: any ComputeBackend

    /// Labels come from `labelsPath`, else the config, else the ImageNet-1k list for
    /// 1000-class models.
    public init(checkpoint: String, config: String? = nil, weights: WeightsChoice = .auto, labelsPath: String? = nil,
                limits: DecodeLimits = .default, name: String? = nil,
                backend: any ComputeBackend = CPUBackend.shared, resolvedConfig: (ModelConfig, String?)? = nil) throws(BundleError) {
        self.backend = backend
        do {
            var (cfg, cfgPath) = (ModelConfig(), String?.none)
            if let resolvedConfig {
                (cfg, cfgPath) = resolvedConfig
            } else {
                (cfg, cfgPath) = try ModelConfig.locate(explicit: config, checkpoint: checkpoint)
            }
            model = try VisionMamba(checkpoint: try Checkpoint(path: checkpoint, weights: weights), config: cfg)
            try backend.requireSupport(model.architecture)
            configPath = cfgPath
        } catch {
            throw .model(error)
        }
        checkpointPath = checkpoint
        self.name = name ?? model.config.name ?? URL(fileURLWithPath: checkpoint).deletingPathExtension().lastPathComponent
        var preprocessing = Preprocessing.imagenet
        let channels = model.architecture.inChannels
        if channels == 3, let json = model.config.preprocessingJSON {
            do {
                preprocessing = try JSONDecoder().decode(Preprocessing.self, from: json)
            } catch {
                throw .config("preprocessing: \(error)")
            }
        }
        do { try preprocessing.validate() } catch { throw .image(error) }
        pipeline = ImagePipeline(limits: limits, preprocessing: preprocessing)
        if channels == 3 {
            normalization = ChannelNormalization(mean: preprocessing.mean, std: preprocessing.std)
        } else {
            normalization = try ChannelNormalization(json: model.config.preprocessingJSON, channels: channels)
        }
        if let labelsPath {
            guard let text = try? String(contentsOfFile: labelsPath, encoding: .utf8) else {
                throw .config("cannot read labels file \(labelsPath)")
            }
            labels = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        } else if let l = model.config.labels {
            labels = l
        } else if model.architecture.numClasses == 1000, let path = ResourceLocator.find("models/labels/imagenet1k.txt"),
                  let text = try? String(contentsOfFile: path, encoding: .utf8) {
            labels = text.split(separator: "\n").map(String.init)
        } else {
            labels = nil
        }
        if let labels, labels.count != model.architecture.numClasses {
            throw .config("\(labels.count) labels for a model with \(model.architecture.numClasses) classes")
        }
    }

    /// Encoded images (JPEG/PNG) become RGB: other channel counts (microscopy) take tensors (OIP v2 FP32).
    public var acceptsImages: Bool { model.architecture.inChannels == 3 }

    public var inputHeight: Int { pipeline.preprocessing.cropHeight }
    public var inputWidth: Int { pipeline.preprocessing.cropWidth }
    public var imageFloats: Int { pipeline.outputCount }
}
