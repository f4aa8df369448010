import ArgumentParser
import FastVimEngine
import Foundation

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a (B, C, H, W) float tensor from a safetensors file and print its logits as JSON."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @OptionGroup var images: TensorInputOptions

    func run() throws {
        let (m, _) = try model.load()
        let (_, values, shape) = try images.read(channels: m.architecture.inChannels)
        let c = m.architecture.numClasses
        guard c > 0 else { throw ValidationError("this checkpoint is an encoder without a classification head: use fastvim features") }
        let logits = try device.backend().makePass(for: m, batch: shape[0], height: shape[2], width: shape[3]).run(values).logits
        print("{\"shape\": [\(shape[0]), \(c)], \"logits\": \(nestedJSON(logits[...], [shape[0], c]))}")
    }
}
