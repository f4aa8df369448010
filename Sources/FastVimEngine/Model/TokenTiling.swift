/// How a mixer cuts a long sequence into tiles of tokens, so that in_proj's output meets
/// the conv (and FastVim's pooling) while it is in cache, and each tile's gated output
/// meets out_proj the same way: on long sequences (FastVim-T at 1024 px holds 12 MB of
/// in_proj output per image) the untiled passes stream every activation through memory.
/// A tile is whole runs of `span` tokens (a pooled group never straddles two tiles);
/// the conv's reach past its ends (`convWidth - 1` tokens each side) is recomputed by the
/// tile's in_proj, so tiles are independent of each other.
public struct TokenTiling: Sendable, Equatable {
    /// Tokens per tile aimed at. 128 measured best for FastVim-T and Vim-T at 512 and 1024 px
    /// against 256 and 512 (docs/BENCHMARKS.md): shorter tiles repack the GEMMs' weights more
    /// often, longer ones spill the tile's activations (about 5 KB per token for E = 384)
    /// out of L2.
    public static let defaultTarget = 128

    /// Sequences tile once a block's in_proj output per image passes this (4 MiB, a share
    /// of a server CPU's L3). Below it the untiled stages find their inputs in cache anyway,
    /// and the tiles' extra GEMM calls cost more than they save: FastVim-T at 224 px (0.6 MB)
    /// ran 8 to 13% slower tiled, at 512 px (3 MB) the same, at 1024 px (12.6 MB) 25% faster.
    public static let defaultMinimumBytes = 4 << 20

    public let target: Int
    public let minimumBytes: Int

    public init(target: Int = TokenTiling.defaultTarget, minimumBytes: Int = TokenTiling.defaultMinimumBytes) {
        self.target = max(1, target)
        self.minimumBytes = max(0, minimumBytes)
    }

    /// Whether a sequence of this length is tiled: longer than a tile, and with more
    /// in_proj output than `minimumBytes` (float32 x and z, E wide each).
    func applies(sequence: Int, innerDim: Int) -> Bool { sequence > target && sequence * 2 * innerDim * 4 > minimumBytes }

    /// The most floats one thread's scratch takes (`ThreadScratch`) for this input, 0 when
    /// it does not tile: what a server budgets beside the workspace, per thread.
    static func scratchFloats(_ a: Architecture, layout: TokenLayout, tiling: TokenTiling?) -> Int {
        let (s, d, e, reach) = (layout.sequence, a.embedDim, a.innerDim, a.convWidth - 1)
        guard let tiling, layout.tokens == layout.embedded, tiling.applies(sequence: s, innerDim: e) else { return 0 }
        // A tile is at most one run longer than the target (`tile(sequence:...)`).
        let longestRun = a.pools ? max(layout.grid.rows, layout.grid.cols) * a.channelTokens : 1
        let tile = min(s, tiling.target + longestRun), rows = min(s, tile + 2 * reach)
        return max(projectScratch(rows: rows, tile: tile, e: e, d: d, pooled: a.pools, gathered: a.pools),
                   combineScratch(tile: tile, e: e, d: d))
    }

    /// Floats of a tile's scratch in `projectAndConvolve`: x over `rows` (the tile and the
    /// conv's reach), the pooled models' conv output over the tile, the gathered input rows.
    static func projectScratch(rows: Int, tile: Int, e: Int, d: Int, pooled: Bool, gathered: Bool) -> Int {
        (rows + (pooled ? 2 * tile : 0)) * e + (gathered ? rows * d : 0)
    }

    /// Floats of a tile's scratch in `combineAndProject`: z and the gated rows (E wide),
    /// out_proj's output and the gathered input (D wide).
    static func combineScratch(tile: Int, e: Int, d: Int) -> Int { tile * 2 * (e + d) }

    /// Tile length for a sequence of runs of `span` tokens: whole runs, about `target` tokens,
    /// the tiles of equal length, and at least one tile per thread (down to one run each).
    func tile(sequence: Int, span: Int, batch: Int, threads: Int) -> Int {
        let runs = max(1, sequence / span)
        let tiles = min(runs, max((sequence + target - 1) / target, (threads + batch - 1) / batch))
        return (runs + tiles - 1) / tiles * span
    }
}

/// Where a tiled mixer's tokens sit in the residual stream when it sees the grid
/// transposed (odd FastVim blocks): view token v = ((outer, col, row, inner)) is stream token
/// (outer, row, col, inner), the same mapping the untiled pass's transposes apply.
struct TransposedView {
    let rows: Int
    let cols: Int
    /// Channel-First channel models keep a position's channel tokens together.
    let inner: Int

    /// The stream's token (within an image) that view token `v` is.
    func stored(_ v: Int) -> Int {
        let plane = rows * cols * inner
        let (o, rest) = v.quotientAndRemainder(dividingBy: plane)
        let (q, ch) = rest.quotientAndRemainder(dividingBy: inner)
        let (c, r) = q.quotientAndRemainder(dividingBy: rows)
        return o * plane + (r * cols + c) * inner + ch
    }
}

/// Where a mixer's output goes.
enum MixerOutput {
    /// Rows in the mixer's token order.
    case rows(UnsafeMutablePointer<Float>)
    /// Added to the residual stream, which is then normed with `norm` into `normed`, the
    /// next block's input, tile by tile while the rows are in cache (the tiled pass).
    /// `view`: the mixer reads its input from `normed` and writes back through this mapping.
    case residual(norm: UnsafePointer<Float>, view: TransposedView?)

    var view: TransposedView? {
        if case let .residual(_, view) = self { return view }
        return nil
    }
}
