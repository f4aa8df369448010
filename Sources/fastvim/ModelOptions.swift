import ArgumentParser
import FastVimEngine

extension WeightsChoice: ExpressibleByArgument {}

/// The options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(help: "Checkpoint: PyTorch .pth/.ckpt (zip) or .safetensors.")
    var checkpoint: String

    @Option(help: "Model config JSON (default: <checkpoint>.json when present).")
    var config: String?

    @Option(help: "Which weights of the checkpoint: auto (EMA for Lightning, model for DeiT-style), ema or raw.")
    var weights: WeightsChoice = .auto

    func load() throws -> (VisionMamba, String?) {
        let (config, configPath) = try ModelConfig.locate(explicit: config, checkpoint: checkpoint)
        let model = try VisionMamba(checkpoint: try Checkpoint(path: checkpoint, weights: weights), config: config)
        return (model, configPath)
    }
}
