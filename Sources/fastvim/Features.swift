import ArgumentParser
import FastVimEngine
import Foundation

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pooled features (the head's input) of a (B, C, H, W) tensor; with --keep, the masked encoder's per-token latent (FastMaskVim)."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var device: DeviceOptions

    @OptionGroup var images: TensorInputOptions

    @Option(help: "Name of a (B, K) integer tensor of kept token indices (increasing) for masked encoders.")
    var keep: String?

    @Option(name: .customLong("keep-indices"), help: "Kept token indices for every image, comma-separated (instead of --keep).")
    var keepIndices: String?

    func run() throws {
        let (m, _) = try model.load()
        let (file, values, shape) = try images.read(channels: m.architecture.inChannels)
        let d = m.architecture.embedDim
        let outShape: [Int]
        let features: [Float]
        if keep != nil || keepIndices != nil {
            var ids: [Int]
            if let keep {
                ids = try file.integers(keep)
            } else {
                let one = keepIndices!.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                ids = Array((0 ..< shape[0]).map { _ in one }.joined())
            }
            features = try device.backend().encodeMasked(m, input: values, batch: shape[0], height: shape[2], width: shape[3], idsKeep: ids)
            outShape = [shape[0], ids.count / shape[0], d]
        } else {
            features = try device.backend().makePass(for: m, batch: shape[0], height: shape[2], width: shape[3]).run(values).features
            outShape = [shape[0], d]
        }
        print("{\"shape\": \(outShape), \"features\": \(nestedJSON(features[...], outShape[...]))}")
    }
}
