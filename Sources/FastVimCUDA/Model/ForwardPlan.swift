import FastVimEngine

/// The shapes of one forward pass (a model, a batch, an input size) and the device buffers
/// it needs (`Activation.device`), laid out in one arena: everything the launches need that
/// the host can work out without a device, so it is unit-tested here.
public struct ForwardPlan: Sendable, Equatable {
    public let architecture: Architecture
    public let batch: Int
    public let height: Int
    public let width: Int
    /// The tokens of the input, as the CPU engine's workspace counts them.
    public let layout: TokenLayout
    public var grid: Grid { layout.grid }
    /// Tokens per image entering the blocks (all grid tokens, or a masked pass's kept ones).
    public var tokens: Int { layout.tokens }
    /// Tokens per image in the residual stream, the class token included.
    public var sequence: Int { layout.sequence }
    /// Scan steps per image: pooled rows/columns (FastVim) or every token (Vim); the largest over blocks.
    public var maxGroups: Int { layout.maxGroups }
    public let arena: ActivationLayout
    /// Device buffers start on 256-byte boundaries (cudaMalloc's alignment).
    public static let alignment = 256
    public let chunking: ScanChunking
    /// FastMaskVim's masked encoding: this many kept tokens per image enter the blocks (the
    /// patch embedding still covers the grid); nil for a classification pass.
    public let keptTokens: Int?
    /// Grid tokens the patch embedding produces (all of them, masked or not).
    public var embeddedTokens: Int { layout.embedded }

    /// When the scan cuts the sequence into chunks: only when its lanes (batch x channels x
    /// states) are too few to keep the GPU busy, and the sequence is long enough to cut.
    public struct ScanChunking: Sendable, Equatable {
        /// Steps per chunk.
        public var length = 256
        /// Chunk only below this many lanes (an H100 holds about 270k resident threads).
        public var belowLanes = 1 << 17

        public init(length: Int = 256, belowLanes: Int = 1 << 17) {
            self.length = max(1, length)
            self.belowLanes = belowLanes
        }
    }

    public init(architecture a: Architecture, batch: Int, height: Int, width: Int, chunking: ScanChunking = ScanChunking(),
                keptTokens: Int? = nil) {
        self.chunking = chunking
        self.keptTokens = keptTokens
        self.architecture = a
        self.batch = batch
        self.height = height
        self.width = width
        layout = TokenLayout(a, height: height, width: width, keptTokens: keptTokens)
        let chunks = Self.chunks(steps: layout.maxGroups, lanes: batch * a.innerDim * a.stateDim, chunking)
        arena = ActivationLayout(Activation.device, shape: ActivationShape(a, batch: batch, height: height, width: width,
                                                                           keptTokens: keptTokens, scanChunks: chunks),
                                 alignment: Self.alignment)
    }

    /// How the mixer of block `index` sees the sequence: FastVim's odd blocks run on the
    /// transposed grid; a run (pooled to one scan step) is a row of that view, every
    /// `interleave`-th token for Channel-First channel models; Vim scans every token.
    public struct MixerView: Sendable, Equatable {
        public let transposed: Bool
        public let groups: Int
        public let width: Int
        public let interleave: Int

        public init(transposed: Bool, groups: Int, width: Int, interleave: Int) {
            (self.transposed, self.groups, self.width, self.interleave) = (transposed, groups, width, interleave)
        }
    }

    public func mixerView(block index: Int) -> MixerView {
        let a = architecture
        guard a.pools else { return MixerView(transposed: false, groups: sequence, width: 1, interleave: 1) }
        let transposed = index % 2 == 1
        let (viewRows, viewCols) = transposed ? (grid.cols, grid.rows) : (grid.rows, grid.cols)
        let channelFirst = a.perChannelTokens && a.scanOrder == .channelFirst
        return MixerView(transposed: transposed, groups: viewRows * a.channelTokens, width: viewCols,
                         interleave: channelFirst ? a.channelTokens : 1)
    }

    /// Tokens the final features average: all of them (FastVim), or the class token (Vim).
    public var featureTokens: (first: Int, count: Int) {
        architecture.hasClassToken ? (tokens / 2, 1) : (0, sequence)
    }

    /// Chunks a scan of `steps` steps is cut into; 1 runs it whole.
    public func scanChunks(steps: Int) -> Int {
        Self.chunks(steps: steps, lanes: batch * architecture.innerDim * architecture.stateDim, chunking)
    }

    static func chunks(steps: Int, lanes: Int, _ c: ScanChunking) -> Int {
        guard lanes < c.belowLanes, steps >= 2 * c.length else { return 1 }
        return (steps + c.length - 1) / c.length
    }
}
