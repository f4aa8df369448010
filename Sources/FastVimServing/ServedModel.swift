import FastVimEngine
import FastVimImages

/// A model behind the server: its bundle and its batcher.
public final class ServedModel: Sendable {
    public let bundle: ModelBundle
    public let worker: ModelWorker
    /// The repository version it was loaded from (1 for models given by flags).
    public let version: Int

    public init(bundle: ModelBundle, settings: ModelWorker.Settings, version: Int = 1) {
        self.bundle = bundle
        self.version = version
        worker = ModelWorker(bundle: bundle, settings: settings)
    }

    public var name: String { bundle.name }

    /// What `/v1/models` and the OIP metadata say about the model.
    var summary: [String: Any] {
        let a = bundle.model.architecture
        var out: [String: Any] = [
            "name": name, "family": a.family.rawValue, "classes": a.numClasses,
            "image_size": [bundle.inputHeight, bundle.inputWidth], "embed_dim": a.embedDim, "depth": a.depth,
            "patch_size": a.patchSize, "parameters": bundle.model.parameterCount, "checkpoint": bundle.checkpointPath,
            "weights": bundle.model.checkpoint.source, "device": bundle.backend.name,
            "preprocessing": [
                "resize": bundle.pipeline.preprocessing.resize,
                "crop_size": [bundle.inputHeight, bundle.inputWidth],
                "interpolation": bundle.pipeline.preprocessing.interpolation.rawValue,
                "mean": bundle.pipeline.preprocessing.mean.map(Double.init),
                "std": bundle.pipeline.preprocessing.std.map(Double.init),
            ],
        ]
        if let labels = bundle.labels { out["labels"] = labels.count }
        return out
    }
}
