/// Activation buffers for one (batch, height, width), carved out of a single allocation
/// made once; a forward pass allocates nothing. One workspace per thread.
public final class Workspace: @unchecked Sendable {
    public let batch: Int
    public let height: Int
    public let width: Int
    public let grid: Grid
    /// Tokens per image in the residual stream: grid positions times tokens per position,
    /// plus the class token for Vim and ChannelVim.
    public let sequence: Int
    /// Patch tokens per image (the sequence without the class token).
    public let tokens: Int
    /// Masked encoding: only `tokens` of the grid's tokens enter the blocks.
    public let isMasked: Bool
    let maxGroups: Int

    let posEmbed: UnsafeMutablePointer<Float>   // (sequence, D), fitted to `grid`
    let columns: UnsafeMutablePointer<Float>    // (B·L, C·p·p) im2col
    let patches: UnsafeMutablePointer<Float>    // (B·L, D)
    let residual: UnsafeMutablePointer<Float>   // (B·S, D)
    let hidden: UnsafeMutablePointer<Float>     // (B·S, D)
    let normed: UnsafeMutablePointer<Float>     // (B·S, D)
    let permuted: UnsafeMutablePointer<Float>   // (B·S, D) the mixer's view of odd FastVim blocks
    let xz: UnsafeMutablePointer<Float>         // (B·S, 2E)
    let xF: UnsafeMutablePointer<Float>         // (B·S, E) conv + SiLU, forward branch
    let xB: UnsafeMutablePointer<Float>         // (B·S, E) backward branch, original order
    let pooledF: UnsafeMutablePointer<Float>    // (B·G, E)
    let pooledB: UnsafeMutablePointer<Float>    // (B·G, E)
    let dbcF: UnsafeMutablePointer<Float>       // (B·G, R + 2N)
    let dbcB: UnsafeMutablePointer<Float>       // (B·G, R + 2N)
    let deltaF: UnsafeMutablePointer<Float>     // (B·G, E)
    let deltaB: UnsafeMutablePointer<Float>     // (B·G, E)
    let yF: UnsafeMutablePointer<Float>         // (B·G, E)
    let yB: UnsafeMutablePointer<Float>         // (B·G, E)
    let gated: UnsafeMutablePointer<Float>      // (B·S, E)
    let scanState: UnsafeMutablePointer<Float>  // (2, B, N·E): one state per direction and item
    let features: UnsafeMutablePointer<Float>   // (B, D)
    /// How the mixer cuts long sequences into tiles (nil: never).
    let tiling: TokenTiling?
    /// Whether plain (neither profiled nor traced) passes run tiled: `tiling` applies to
    /// this sequence. Decided here once for the forward pass, the mixer and the budget.
    let tiles: Bool
    /// Tiling applies and the buffers only untiled stages use were left out
    /// (`Activation.cpuTiledOnly`): plain passes only, neither profiled nor traced.
    public let isTiledOnly: Bool
    /// The most a thread's tile scratch takes for this input (0: untiled).
    private let scratchFloats: Int
    /// The allocation this workspace owns; nil for a slice (`ImageSlices`), which borrows
    /// its parent's. Only the parent holds its slices, so the memory outlives them.
    private let arena: UnsafeMutableBufferPointer<Float>?
    private let buffers: ActivationLayout
    /// Elements of one image in each buffer, for slices.
    private let perImage: [Activation: Int]
    /// When set, forward passes record their time per stage here.
    public var profile: StageProfile?

    /// The workspace's buffers and, for a tiled pass, every thread's scratch at its largest.
    public var byteCount: Int {
        guard let arena else { return 0 }
        return (arena.count + Parallel.width * scratchFloats) * MemoryLayout<Float>.size
    }

    /// The pooled features of the last forward pass, (batch, D): the head's input.
    public func pooledFeatures(embedDim d: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: features, count: batch * d))
    }

    /// `keptTokens`: masked (FastMaskVim) encoding, where only that many tokens per image
    /// enter the blocks; the patch embedding still covers the whole grid.
    /// `untiledBuffers`: keep every buffer even where tiling applies, for profiled and
    /// traced passes, which run their stages apart.
    init(model a: Architecture, batch: Int, height: Int, width: Int, keptTokens: Int? = nil,
         tiling: TokenTiling? = TokenTiling(), untiledBuffers: Bool = false) throws(CheckpointError) {
        guard batch > 0, height > 0, width > 0 else { throw .invalidConfig("empty input: batch \(batch), \(height)x\(width)") }
        self.batch = batch
        self.height = height
        self.width = width
        let shape = ActivationShape(a, batch: batch, height: height, width: width, keptTokens: keptTokens)
        let layout = shape.layout
        grid = layout.grid
        tokens = layout.tokens
        isMasked = keptTokens != nil
        sequence = layout.sequence
        maxGroups = layout.maxGroups
        self.tiling = keptTokens == nil ? tiling : nil
        tiles = Self.tiles(a, layout: layout, tiling: self.tiling)
        isTiledOnly = tiles && !untiledBuffers
        scratchFloats = TokenTiling.scratchFloats(a, layout: layout, tiling: self.tiling)
        let held = isTiledOnly ? Activation.cpuTiledOnly : Activation.cpu
        buffers = ActivationLayout(held, shape: shape, alignment: Self.alignment)
        let one = ActivationShape(a, batch: 1, height: height, width: width, keptTokens: keptTokens)
        perImage = Dictionary(uniqueKeysWithValues: Activation.cpu.map { ($0, held.contains($0) ? $0.elements(one) : 0) })
        let arena = UnsafeMutableBufferPointer<Float>.allocate(capacity: buffers.totalBytes / 4)
        arena.initialize(repeating: 0)
        self.arena = arena
        let base = arena.baseAddress!
        let buffers = self.buffers
        // A buffer left out points at the arena's start: nothing reads it (`forward` runs a
        // tiled-only workspace fused, and refuses to profile or trace it).
        func at(_ buffer: Activation) -> UnsafeMutablePointer<Float> { held.contains(buffer) ? base + buffers[buffer].offset / 4 : base }
        (posEmbed, columns, patches) = (at(.position), at(.columns), at(.patches))
        (residual, hidden, normed, permuted) = (at(.residual), at(.hidden), at(.normed), at(.permuted))
        (xz, xF, xB) = (at(.xz), at(.convolved(.forward)), at(.convolved(.backward)))
        (pooledF, pooledB, dbcF, dbcB) = (at(.pooled(.forward)), at(.pooled(.backward)), at(.projected(.forward)), at(.projected(.backward)))
        (deltaF, deltaB, yF, yB) = (at(.delta(.forward)), at(.delta(.backward)), at(.scanned(.forward)), at(.scanned(.backward)))
        (gated, scanState, features) = (at(.gated), at(.scanState), at(.features))
    }

    /// Images `images` of `parent`, as a workspace of that batch over the parent's memory:
    /// every per-image buffer is image-major, so a slice is its parent's pointers moved on by
    /// the images before it. The scan's scratch state is per slice, at the slice's images.
    private init(slicing parent: Workspace, images: Range<Int>) {
        precondition(!images.isEmpty && images.upperBound <= parent.batch)
        (batch, height, width, grid) = (images.count, parent.height, parent.width, parent.grid)
        (sequence, tokens, isMasked, maxGroups) = (parent.sequence, parent.tokens, parent.isMasked, parent.maxGroups)
        (arena, buffers, perImage, tiling, scratchFloats) = (nil, parent.buffers, parent.perImage, parent.tiling, 0)
        (tiles, isTiledOnly) = (parent.tiles, parent.isTiledOnly)
        let first = images.lowerBound
        func at(_ buffer: Activation, _ base: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
            base + first * parent.perImage[buffer]!
        }
        posEmbed = parent.posEmbed
        (columns, patches) = (at(.columns, parent.columns), at(.patches, parent.patches))
        (residual, hidden) = (at(.residual, parent.residual), at(.hidden, parent.hidden))
        (normed, permuted) = (at(.normed, parent.normed), at(.permuted, parent.permuted))
        (xz, xF, xB) = (at(.xz, parent.xz), at(.convolved(.forward), parent.xF), at(.convolved(.backward), parent.xB))
        (pooledF, pooledB) = (at(.pooled(.forward), parent.pooledF), at(.pooled(.backward), parent.pooledB))
        (dbcF, dbcB) = (at(.projected(.forward), parent.dbcF), at(.projected(.backward), parent.dbcB))
        (deltaF, deltaB) = (at(.delta(.forward), parent.deltaF), at(.delta(.backward), parent.deltaB))
        (yF, yB) = (at(.scanned(.forward), parent.yF), at(.scanned(.backward), parent.yB))
        (gated, scanState, features) = (at(.gated, parent.gated), at(.scanState, parent.scanState), at(.features, parent.features))
    }

    deinit { arena?.deallocate() }

    /// One buffer of `Activation.cpu`, whole: for the backend check, which copies the CPU's
    /// activations to a device between stages.
    package func contents(of buffer: Activation) -> UnsafeMutableBufferPointer<Float> {
        guard let arena else { preconditionFailure("a workspace slice has no buffers of its own") }
        let slot = buffers[buffer]
        return UnsafeMutableBufferPointer(start: arena.baseAddress! + slot.offset / 4, count: slot.bytes / 4)
    }

    /// The batch cut for `threads` threads: `images` holds one slice per image of the first
    /// batch - batch % threads, an equal share each; `rest` (the last batch % threads images)
    /// runs as one slice split over every thread. Made once per thread count.
    struct ImageSlices {
        let threads: Int
        let images: [Workspace]
        let rest: Workspace?
    }

    private var slices: ImageSlices?

    /// nil when the batch is smaller than `threads` (each stage is then split within images).
    func imageSlices(threads: Int) -> ImageSlices? {
        guard batch >= threads, threads > 1, arena != nil else { return nil }
        if let slices, slices.threads == threads { return slices }
        let whole = batch / threads * threads
        let made = ImageSlices(threads: threads, images: (0 ..< whole).map { Workspace(slicing: self, images: $0 ..< $0 + 1) },
                               rest: whole < batch ? Workspace(slicing: self, images: whole ..< batch) : nil)
        slices = made
        return made
    }

    /// Buffers start on 64-byte boundaries, for the BLAS kernels.
    static let alignment = 64

    /// The bytes a workspace for this input would hold, worked out without allocating it:
    /// what a server checks against its memory budget before it accepts an input size.
    /// `tiling`: the workspace's (nil: untiled, no scratch).
    public static func byteCount(_ a: Architecture, batch: Int, height: Int, width: Int,
                                 tiling: TokenTiling? = TokenTiling()) -> Int {
        guard batch > 0, height > 0, width > 0 else { return 0 }
        let shape = ActivationShape(a, batch: batch, height: height, width: width)
        let scratch = Parallel.width * TokenTiling.scratchFloats(a, layout: shape.layout, tiling: tiling)
        let held = tiles(a, layout: shape.layout, tiling: tiling) ? Activation.cpuTiledOnly : Activation.cpu
        return ActivationLayout.totalBytes(held, shape: shape, alignment: alignment) + scratch * 4
    }

    /// Whether every plain pass over this input runs tiled (and fused).
    private static func tiles(_ a: Architecture, layout: TokenLayout, tiling: TokenTiling?) -> Bool {
        tiling?.applies(sequence: layout.sequence, innerDim: a.innerDim) == true
    }
}
