/// The three model families the engine runs.
public enum ModelFamily: String, Sendable, Codable {
    /// FastVim: pooled scans, alternating row/column pooling, post-SSM LayerNorm, mean-pooled features.
    case fastvim
    /// Vim with post-SSM LayerNorm (the FastVim repository's baseline): middle class token.
    case vimLN = "vim-ln"
    /// Original Vim (hustvl): middle class token, gate inside each direction, no LayerNorm.
    case vim
    /// FastChannelVim: one token per patch and channel (microscopy), FastVim blocks.
    case fastChannelVim = "fastchannelvim"
    /// ChannelVim: per-channel tokens, Vim-with-LayerNorm mixers, middle class token.
    case channelVim = "channelvim"
}

/// How the per-channel tokens of channel models are ordered.
public enum ScanOrder: String, Sendable, Codable {
    /// (row, col, channel), channel fastest: the default.
    case channelFirst = "Channel-First"
    /// (channel, row, col).
    case spatialFirst = "Spatial-First"
}

/// Everything about a model's shape, read from its weights, plus the few facts only a
/// model config can give (trained image size, stride, collapse, scaling factor).
public struct Architecture: Sendable, Equatable {
    public var family: ModelFamily
    public var embedDim: Int
    public var depth: Int
    public var innerDim: Int
    public var stateDim: Int
    public var dtRank: Int
    public var convWidth: Int
    /// 0 when the checkpoint has no classification head (an encoder).
    public var numClasses: Int
    public var inChannels: Int
    public var patchSize: Int
    public var stride: Int
    public var collapse: Collapse
    public var scalingFactor: Float
    /// Rows of `pos_embed`, the class-token row included for Vim.
    public var positionTokens: Int
    /// The trained grid when the config fixes it (image_size); otherwise decided per input.
    public var configuredGrid: Grid?
    public var inProjBias: Bool
    public var outProjBias: Bool
    /// Channel models tokenise every input channel on its own (a shared 1-channel patch
    /// kernel plus a per-channel embedding): `inChannels` tokens per grid position.
    public var perChannelTokens: Bool
    public var scanOrder: ScanOrder

    public var hasClassToken: Bool { family == .vim || family == .vimLN || family == .channelVim }
    public var hasPostSSMNorm: Bool { family != .vim }
    /// FastVim-style pooled mixers with alternating transposes.
    public var pools: Bool { family == .fastvim || family == .fastChannelVim }
    /// Tokens per grid position.
    public var channelTokens: Int { perChannelTokens ? inChannels : 1 }
    /// Input channels each patch kernel sees.
    public var kernelChannels: Int { perChannelTokens ? 1 : inChannels }
    /// Grid positions in `pos_embed` (Vim's has an extra class-token row; ChannelVim's has none).
    public var gridTokens: Int { positionTokens - (hasClassToken && !perChannelTokens ? 1 : 0) }

    static func key(_ i: Int, _ name: String) -> String { "layers.\(i).mixer.\(name)" }

    /// Reads the architecture off the weight shapes, as model-spec.md describes.
    public init(checkpoint c: Checkpoint, config: ModelConfig) throws(CheckpointError) {
        func shape(_ key: String, rank: Int) throws(CheckpointError) -> [Int] {
            guard let s = c.shape(key) else { throw .missingKey(key) }
            guard s.count == rank else {
                throw .corrupt("weight \(key) has shape \(s), expected \(rank) dimensions")
            }
            return s
        }
        perChannelTokens = c.tensors["patch_embed.channel_embed.weight"] != nil
        // Channel models use a Conv3d (D, 1, 1, p, p) shared by the channels.
        let patchWeight = try shape("patch_embed.proj.weight", rank: perChannelTokens ? 5 : 4)
        let kernel = Array(patchWeight.suffix(2))
        guard kernel[0] == kernel[1], kernel[0] > 0, !perChannelTokens || (patchWeight[1] == 1 && patchWeight[2] == 1) else {
            throw .corrupt("patch_embed.proj.weight \(patchWeight) is not a square patch kernel")
        }
        embedDim = patchWeight[0]
        patchSize = kernel[0]
        inChannels = perChannelTokens ? try shape("patch_embed.channel_embed.weight", rank: 2)[0] : patchWeight[1]
        scanOrder = config.scanOrder ?? .channelFirst
        var d = 0
        while c.tensors[Self.key(d, "in_proj.weight")] != nil { d += 1 }
        guard d > 0 else { throw .missingKey(Self.key(0, "in_proj.weight")) }
        depth = d
        let inProj = try shape(Self.key(0, "in_proj.weight"), rank: 2)
        guard inProj[0] % 2 == 0 else { throw .corrupt("in_proj.weight \(inProj) has an odd output width") }
        innerDim = inProj[0] / 2
        stateDim = try shape(Self.key(0, "A_log"), rank: 2)[1]
        dtRank = try shape(Self.key(0, "dt_proj.weight"), rank: 2)[1]
        convWidth = try shape(Self.key(0, "conv1d.weight"), rank: 3)[2]
        numClasses = c.tensors["head.weight"] != nil ? try shape("head.weight", rank: 2)[0] : 0
        let hasCls = c.tensors["cls_token"] != nil
        let hasLN = c.tensors[Self.key(0, "layernorm.weight")] != nil
        switch (hasCls, hasLN, perChannelTokens) {
        case (false, true, false): family = .fastvim
        case (true, true, false): family = .vimLN
        case (true, false, false): family = .vim
        case (false, true, true): family = .fastChannelVim
        case (true, true, true): family = .channelVim
        default:
            throw .corrupt("no layers.0.mixer.layernorm.weight: not a FastVim, Vim or channel-model checkpoint this engine knows")
        }
        positionTokens = try shape("pos_embed", rank: 3)[1]
        inProjBias = c.tensors[Self.key(0, "in_proj.bias")] != nil
        outProjBias = c.tensors[Self.key(0, "out_proj.bias")] != nil
        stride = config.stride ?? patchSize
        collapse = config.collapse ?? .mean
        scalingFactor = config.scalingFactor ?? 1
        guard stride <= patchSize else { throw .invalidConfig("stride \(stride) is larger than the patch size \(patchSize)") }
        if let size = config.imageSize {
            let g = Grid(height: size[0], width: size[1], patch: patchSize, stride: stride)
            guard g.count == gridTokens else {
                throw .invalidConfig("image_size \(size) gives a \(g) grid (\(g.count) tokens), but pos_embed has \(positionTokens) rows\(gridTokens != positionTokens ? " (one is the class token)" : "")")
            }
            configuredGrid = g
        }
    }

    static func squareSide(_ n: Int) -> Int? {
        var s = 0
        while s * s < n { s += 1 }
        return s * s == n ? s : nil
    }

    /// The grid `pos_embed` was trained for, given the grid of the input at hand.
    public func trainedGrid(for input: Grid) throws(CheckpointError) -> Grid {
        if let configuredGrid { return configuredGrid }
        if input.count == gridTokens { return input }
        if let side = Self.squareSide(gridTokens) { return Grid(rows: side, cols: side) }
        throw .invalidConfig("pos_embed has \(gridTokens) grid tokens, which is not a square grid and does not match the input's \(input) grid: set image_size in the model config")
    }

    /// Parameters per direction of the scan's x_proj output: [dt | B | C].
    var xProjWidth: Int { dtRank + 2 * stateDim }
}
