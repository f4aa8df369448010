/// The paper's standard configurations, for benchmarks without a checkpoint:
/// `fastvim-t|s|b`, `vim-t|s|b` (Vim with post-SSM LayerNorm, as the paper measured)
/// and `vim-t|s|b-orig` (the original Vim).
public struct StandardModel: Sendable, Equatable {
    public let name: String
    public let family: ModelFamily
    public private(set) var embedDim: Int
    public private(set) var depth: Int
    public let patchSize: Int
    public private(set) var numClasses: Int
    /// Mamba's d_state: 16 in every paper configuration.
    public private(set) var stateDim = 16

    /// Input channels (8 for the JUMP-CP channel models).
    public let channels: Int

    public static let names = ["fastvim-t", "fastvim-s", "fastvim-b", "vim-t", "vim-s", "vim-b", "vim-t-orig", "vim-s-orig",
                               "vim-b-orig", "fastchannelvim-s", "channelvim-s", "fastchannelvim-s-p8", "channelvim-s-p8"]

    /// `fastvim-t|s|b`, `vim-t|s|b[-orig]`, `fastchannelvim-t|s|b[-p8]`, `channelvim-t|s|b[-p8]`
    /// (channel models: 8 channels, 161 classes like JUMP-CP's compounds are not fixed; 1000 here).
    public init?(name: String) {
        let parts = name.lowercased().split(separator: "-").map(String.init)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        let dims = ["t": 192, "s": 384, "b": 768]
        guard let d = dims[parts[1]] else { return nil }
        var patch = 16
        switch (parts[0], parts.count == 3 ? parts[2] : nil) {
        case ("fastvim", nil): family = .fastvim
        case ("vim", nil): family = .vimLN
        case ("vim", "orig"): family = .vim
        case ("fastchannelvim", nil), ("fastchannelvim", "p8"): family = .fastChannelVim
        case ("channelvim", nil), ("channelvim", "p8"): family = .channelVim
        default: return nil
        }
        if parts.count == 3, parts[2] == "p8" { patch = 8 }
        self.name = name.lowercased()
        embedDim = d
        depth = 24
        patchSize = patch
        numClasses = 1000
        channels = family == .fastChannelVim || family == .channelVim ? 8 : 3
    }

    var perChannel: Bool { family == .fastChannelVim || family == .channelVim }

    /// The same family at other sizes: small models for tests and the backend check.
    public func resized(embedDim: Int? = nil, depth: Int? = nil, stateDim: Int? = nil, numClasses: Int? = nil) -> StandardModel {
        var m = self
        m.embedDim = embedDim ?? m.embedDim
        m.depth = depth ?? m.depth
        m.stateDim = stateDim ?? m.stateDim
        m.numClasses = numClasses ?? m.numClasses
        return m
    }

    /// Tensor names and shapes in the official layout, for a model trained at `imageSize`.
    public func tensorShapes(imageSize: Int = 224) -> [(String, [Int])] {
        let d = embedDim, e = 2 * d, n = stateDim, r = (d + 15) / 16, k = 4
        let grid = imageSize / patchSize
        // Vim's pos_embed carries the class token's row; ChannelVim's does not.
        let tokens = grid * grid + (family == .vim || family == .vimLN ? 1 : 0)
        var out: [(String, [Int])] = [
            ("pos_embed", [1, tokens, d]),
            ("patch_embed.proj.weight", perChannel ? [d, 1, 1, patchSize, patchSize] : [d, channels, patchSize, patchSize]),
            ("patch_embed.proj.bias", [d]), ("head.weight", [numClasses, d]), ("head.bias", [numClasses]),
            ("norm_f.weight", [d]),
        ]
        if perChannel { out.append(("patch_embed.channel_embed.weight", [channels, d])) }
        if family != .fastvim && family != .fastChannelVim { out.append(("cls_token", [1, 1, d])) }
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
