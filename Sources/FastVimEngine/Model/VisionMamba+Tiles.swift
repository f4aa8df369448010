extension VisionMamba {
    /// The tiles of a tiled mixer pass: every image's sequence cut into tiles of `tile`
    /// tokens (the last one shorter), one task each, handed out as threads free up.
    func forEachTile(_ ws: Workspace, tile: Int, _ body: (TokenTile) -> Void) {
        let s = ws.sequence
        let perImage = (s + tile - 1) / tile
        Parallel.handOut(ws.batch * perImage) { k in
            let lo = (k % perImage) * tile
            body(TokenTile(image: k / perImage, tokens: lo ..< min(s, lo + tile)))
        }
    }

    /// x of in_proj and conv + SiLU of one tile, while they are in cache. x goes to this
    /// thread's scratch, with the conv's reach past the tile's ends recomputed (so
    /// neighbouring tiles never wait for each other). z is left to `combineAndProject`,
    /// which computes it from the same input rows when it needs it: cheaper than writing it
    /// to memory and reading it back after the scan.
    /// Unpooled (Vim), the conv's output goes to `ws.xF`/`ws.xB`, the scan's input. Pooled,
    /// it stays in the scratch: `pool` reads it there (the tile, then its x_f and x_b) and
    /// writes the combine's skip term ½(D_f·x_f + D_b·x_b) to `ws.xF` instead, so the
    /// combine reads one row per token from memory where it read two.
    /// With `view`, the input is in the stream's order and the tile's rows are gathered
    /// through it first.
    func projectAndConvolve(_ w: BlockWeights, _ ws: Workspace, input: UnsafePointer<Float>, view: TransposedView?,
                            tile: TokenTile,
                            pool: ((TokenTile, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void)?) {
        let a = architecture
        let (s, d, e, reach) = (ws.sequence, a.embedDim, a.innerDim, a.convWidth - 1)
        let image = tile.image * s, (t0, t1) = (tile.tokens.lowerBound, tile.tokens.upperBound), n = t1 - t0
        // Rows lo ..< hi of the image: the tile and the conv's reach, within the sequence.
        let lo = max(0, t0 - reach), hi = min(s, t1 + reach)
        // Scratch: x (hi - lo rows), the pooled models' conv output (2 · n rows), the gathered input.
        let convRows = pool == nil ? 0 : 2 * n
        let scratch = ThreadScratch.floats(TokenTiling.projectScratch(rows: hi - lo, tile: n, e: e, d: d, pooled: pool != nil,
                                                                      gathered: view != nil))
        let x = scratch
        var rows = input + (image + lo) * d
        if let view {
            let gathered = scratch + (hi - lo + convRows) * e
            gather(gathered, input + image * d, tokens: lo ..< hi, view: view)
            rows = UnsafePointer(gathered)
        }
        gemmNN(x, ldOut: e, rows, lda: d, w.inProjT, ldb: 2 * e, m: hi - lo, n: e, k: d)
        if let bias = w.inProjBias { addRowBias(x, bias, rows: hi - lo, cols: e, ld: e) }
        // Where token t0's conv output goes in each direction.
        let (outF, outB) = pool == nil ? (ws.xF + (image + t0) * e, ws.xB + (image + t0) * e) : (x + (hi - lo) * e, x + (hi - lo + n) * e)
        // The scratch's row 0 is token lo: a sequence of hi - lo tokens whose zero padding
        // falls where the real sequence's does (before token 0, after token s - 1).
        causalConvSiLUPair(outF - (t0 - lo) * e, outB - (t0 - lo) * e, ldo: e, x, ldx: e, forward: w.forward.convTaps,
                           backward: w.backward.convTaps, ldw: e, length: hi - lo, channels: e, width: a.convWidth,
                           tokens: t0 - lo ..< t1 - lo)
        pool?(tile, outF, outB, ws.xF + (image + t0) * e)
    }

    /// Rows `tokens` of the view, gathered from an image's rows in the stream's order.
    private func gather(_ out: UnsafeMutablePointer<Float>, _ image: UnsafePointer<Float>, tokens: Range<Int>, view: TransposedView) {
        let d = architecture.embedDim
        for (k, v) in tokens.enumerated() { (out + k * d).update(from: image + view.stored(v) * d, count: d) }
    }

    /// z of in_proj for one tile (from the mixer's input, which no tile has overwritten:
    /// each writes only its own rows, after reading them), the combine, then out_proj of
    /// those rows while they are in cache, to `output`'s rows or added to the residual stream
    /// and normed for the next block. `pooled`: `ws.xF` holds the skip term (`projectAndConvolve`).
    func combineAndProject(_ w: BlockWeights, _ ws: Workspace, input: UnsafePointer<Float>, output: MixerOutput,
                           tile: TokenTile, groups: Int, width: Int, interleave: Int, pooled: Bool) {
        let (d, e) = (architecture.embedDim, architecture.innerDim)
        let first = tile.image * ws.sequence + tile.tokens.lowerBound, rows = tile.tokens.count
        // Scratch: z, gated (rows · E each), out_proj's output and the gathered input (rows · D each).
        let z = ThreadScratch.floats(TokenTiling.combineScratch(tile: rows, e: e, d: d))
        let gated = z + rows * e
        var source = input + first * d
        if let view = output.view {
            let gathered = gated + rows * (e + d)
            gather(gathered, input + tile.image * ws.sequence * d, tokens: tile.tokens, view: view)
            source = UnsafePointer(gathered)
        }
        gemmNN(z, ldOut: e, source, lda: d, w.inProjT + e, ldb: 2 * e, m: rows, n: e, k: d)
        if let bias = w.inProjBias { addRowBias(z, bias + e, rows: rows, cols: e, ld: e) }
        combine(w, ws, tokens: first ..< first + rows, z: z, ldz: e, into: gated, groups: groups, width: width,
                interleave: interleave, skipTerm: pooled)
        let projected: UnsafeMutablePointer<Float>
        switch output {
        case let .rows(out): projected = out + first * d
        case .residual: projected = gated + rows * e
        }
        gemmNN(projected, ldOut: d, gated, lda: e, w.outProjT, ldb: d, m: rows, n: d, k: e)
        if let bias = w.outProjBias { addRowBias(projected, bias, rows: rows, cols: d, ld: d) }
        guard case let .residual(norm, view) = output else { return }
        // The same additions and norm as the untiled pass's `addNorm`, row by row.
        guard let view else {
            addRMSNorm(ws.normed + first * d, residual: ws.residual + first * d, hidden: projected, weight: norm, rows: rows, d: d)
            return
        }
        let image = tile.image * ws.sequence
        for (k, v) in tile.tokens.enumerated() {
            let at = (image + view.stored(v)) * d
            addRMSNorm(ws.normed + at, residual: ws.residual + at, hidden: projected + k * d, weight: norm, rows: 1, d: d)
        }
    }
}
