/// The paper's standard configurations, for benchmarks without a checkpoint:
/// `fastvim-t|s|b`, `vim-t|s|b` (Vim with post-SSM LayerNorm, as the paper measured)
/// and `vim-t|s|b-orig` (the original Vim).
public struct StandardModel: Sendable, Equatable {
    public let name: String
    public let family: ModelFamily
    public let embedDim: Int
    public let depth: Int
    public let patchSize: Int
    public let numClasses: Int

    public static let names = ["fastvim-t", "fastvim-s", "fastvim-b", "vim-t", "vim-s", "vim-b", "vim-t-orig", "vim-s-orig", "vim-b-orig"]

    public init?(name: String) {
        let parts = name.lowercased().split(separator: "-").map(String.init)
        guard parts.count == 2 || (parts.count == 3 && parts[2] == "orig" && parts[0] == "vim") else { return nil }
        let dims = ["t": 192, "s": 384, "b": 768]
        guard let d = dims[parts[1]] else { return nil }
        switch parts[0] {
        case "fastvim": family = .fastvim
        case "vim": family = parts.count == 3 ? .vim : .vimLN
        default: return nil
        }
        self.name = name.lowercased()
        embedDim = d
        depth = 24
        patchSize = 16
        numClasses = 1000
    }

    /// Tensor names and shapes in the official layout, for a model trained at `imageSize`.
    public func tensorShapes(imageSize: Int = 224) -> [(String, [Int])] {
        let d = embedDim, e = 2 * d, n = 16, r = (d + 15) / 16, k = 4
        let grid = imageSize / patchSize
        let tokens = grid * grid + (family == .fastvim ? 0 : 1)
        var out: [(String, [Int])] = [
            ("pos_embed", [1, tokens, d]), ("patch_embed.proj.weight", [d, 3, patchSize, patchSize]),
            ("patch_embed.proj.bias", [d]), ("head.weight", [numClasses, d]), ("head.bias", [numClasses]),
            ("norm_f.weight", [d]),
        ]
        if family != .fastvim { out.append(("cls_token", [1, 1, d])) }
        for i in 0 ..< depth {
            let m = "layers.\(i).mixer."
            out.append(("layers.\(i).norm.weight", [d]))
            out += [(m + "in_proj.weight", [2 * e, d]), (m + "out_proj.weight", [d, e])]
            for s in ["", "_b"] {
                out += [(m + "conv1d\(s).weight", [e, 1, k]), (m + "conv1d\(s).bias", [e]),
                        (m + "x_proj\(s).weight", [r + 2 * n, e]), (m + "dt_proj\(s).weight", [e, r]),
                        (m + "dt_proj\(s).bias", [e])]
            }
            out += [(m + "A_log", [e, n]), (m + "A_b_log", [e, n]), (m + "D", [e]), (m + "D_b", [e])]
            if family != .vim { out += [(m + "layernorm.weight", [e]), (m + "layernorm.bias", [e])] }
        }
        return out
    }
}
