import ArgumentParser
import FastVimEngine
import Foundation

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a (B, C, H, W) float tensor from a safetensors file and print its logits as JSON."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "safetensors file holding the input tensor.")
    var input: String

    @Option(help: "Name of the (B, C, H, W) tensor in --input.")
    var tensor: String

    func run() throws {
        let (m, _) = try model.load()
        let (values, shape) = try readImageTensor(try SafeTensorsFile(path: input), tensor, path: input,
                                                  channels: m.architecture.inChannels)
        let logits = try m.logits(input: values, batch: shape[0], height: shape[2], width: shape[3])
        let c = m.architecture.numClasses
        print("{\"shape\": [\(shape[0]), \(c)], \"logits\": \(nestedJSON(logits[...], [shape[0], c]))}")
    }
}
