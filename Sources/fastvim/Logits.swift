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
        let file = try SafeTensorsFile(path: input)
        guard let shape = file.shape(tensor) else { throw ValidationError("no tensor \(tensor) in \(input); it holds: \(file.names.joined(separator: ", "))") }
        guard shape.count == 4, shape[1] == m.architecture.inChannels else {
            throw ValidationError("tensor \(tensor) has shape \(shape); expected (B, \(m.architecture.inChannels), H, W)")
        }
        let values = try file.floats(tensor)
        let logits = try m.logits(input: values, batch: shape[0], height: shape[2], width: shape[3])
        let c = m.architecture.numClasses
        // Shortest round-trip float formatting: the JSON carries exactly the computed float32 values.
        let rows = (0 ..< shape[0]).map { i in "[" + logits[i * c ..< (i + 1) * c].map { "\($0)" }.joined(separator: ", ") + "]" }
        print("{\"shape\": [\(shape[0]), \(c)], \"logits\": [" + rows.joined(separator: ", ") + "]}")
    }
}
