import ArgumentParser
import FastVimEngine
import FastVimServing

extension WeightsChoice: ExpressibleByArgument {}

/// The options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: PyTorch .pth/.ckpt (zip) or .safetensors (default: the bundled \(ResourceLocator.defaultModel)).")
    var checkpoint: String?

    @Option(help: "Model config JSON (default: <checkpoint>.json when present).")
    var config: String?

    @Option(help: "Which weights of the checkpoint: auto (EMA for Lightning, model for DeiT-style), ema or raw.")
    var weights: WeightsChoice = .auto

    init() {}

    init(checkpoint: String?, config: String?, weights: WeightsChoice) {
        self.checkpoint = checkpoint
        self.config = config
        self.weights = weights
    }

    func checkpointPath() throws -> String {
        if let checkpoint { return checkpoint }
        guard let path = ResourceLocator.find(ResourceLocator.defaultModel) else {
            throw ValidationError("no --checkpoint given and the default model \(ResourceLocator.defaultModel) was not found (set FASTVIM_HOME to the directory holding models/)")
        }
        return path
    }

    func load() throws -> (VisionMamba, String?) {
        let path = try checkpointPath()
        let (config, configPath) = try ModelConfig.locate(explicit: config, checkpoint: path)
        let model = try VisionMamba(checkpoint: try Checkpoint(path: path, weights: weights), config: config)
        return (model, configPath)
    }

    func bundle(labels: String? = nil, backend: any ComputeBackend = CPUBackend.shared) throws -> ModelBundle {
        try ModelBundle(checkpoint: try checkpointPath(), config: config, weights: weights, labelsPath: labels, backend: backend)
    }
}
