import FastVimEngine

/// Logits of a (B, C, H, W) batch through a workspace with the given tiling (nil: untiled).
func logits(_ model: VisionMamba, _ input: [Float], batch: Int, height: Int, width: Int, tiling: TokenTiling?) throws -> [Float] {
    let ws = try model.makeWorkspace(batch: batch, height: height, width: width, tiling: tiling)
    var out = [Float](repeating: 0, count: batch * model.architecture.numClasses)
    input.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { model.forward(ws, input: p.baseAddress!, logits: $0.baseAddress!) } }
    return out
}
