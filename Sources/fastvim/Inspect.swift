import ArgumentParser
import FastVimEngine
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a checkpoint's architecture as JSON.")

    @OptionGroup var model: ModelOptions

    func run() throws {
        let (m, configPath) = try model.load()
        let a = m.architecture
        var out: [String: Any] = [
            "family": a.family.rawValue,
            "embed_dim": a.embedDim,
            "depth": a.depth,
            "inner_dim": a.innerDim,
            "state_dim": a.stateDim,
            "dt_rank": a.dtRank,
            "conv_width": a.convWidth,
            "num_classes": a.numClasses,
            "in_channels": a.inChannels,
            "patch_size": a.patchSize,
            "stride": a.stride,
            "collapse": a.collapse.rawValue,
            "scaling_factor": Double(a.scalingFactor),
            "position_tokens": a.positionTokens,
            "parameters": m.parameterCount,
            "weights": m.checkpoint.source,
            "format": m.checkpoint.format.rawValue,
            "config": configPath as Any? ?? NSNull(),
        ]
        if let g = a.configuredGrid { out["trained_grid"] = [g.rows, g.cols] }
        if let labels = m.config.labels { out["labels"] = labels.count }
        try printJSON(out)
    }
}

func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
