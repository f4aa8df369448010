extension VisionMamba {
    /// One bidirectional Mamba mixer over every sequence of the batch. The sequence it sees
    /// is `groups` runs of `width` tokens: FastVim pools each run to one token before the
    /// scan (width = a grid row or column), Vim scans every token (width 1, no pooling).
    /// `output` may alias `input`: untiled, in_proj consumes the input first; tiled, each
    /// tile reads its own input rows before it writes its own output rows.
    /// With `interleave` > 1 (Channel-First channel models) a run is every interleave-th
    /// token: group g = (row, channel) holds tokens (row·width + w)·interleave + channel.
    /// `.residual` output needs a tiled pass (`TokenTiling` applies, no profile).
    func mixer(_ w: BlockWeights, _ ws: Workspace, input: UnsafeMutablePointer<Float>, output: MixerOutput,
               groups: Int, width: Int, interleave: Int, scan: ScanKernel) {
        let a = architecture
        let (b, s, e, n, r) = (ws.batch, ws.sequence, a.innerDim, a.stateDim, a.dtRank)
        let tokens = b * s, xw = a.xProjWidth
        precondition(groups * width == s)

        let profile = ws.profile
        let pools = width > 1 || (a.pools && a.scalingFactor != 1)
        // A tile's tokens are whole groups: groups of `span` tokens.
        let span = width * interleave
        // The pooled groups a tile's runs make: where the first one's row is, and how many.
        func pooledGroups(_ tile: TokenTile) -> (at: Int, count: Int) {
            let first = tile.tokens.lowerBound / span * interleave
            return ((tile.image * groups + first) * e, tile.tokens.count / span * interleave)
        }
        // Pools a tile's runs from the whole conv output (the profiled pass).
        func pool(_ tile: TokenTile) {
            let (at, count) = pooledGroups(tile), rows = (tile.image * s + tile.tokens.lowerBound) * e
            for (x, pooled) in [(ws.xF, ws.pooledF), (ws.xB, ws.pooledB)] {
                poolGroups(pooled + at, ldo: e, x + rows, ldx: e, groups: count, width: width,
                           interleave: interleave, channels: e, collapse: a.collapse, scale: a.scalingFactor)
            }
        }
        // The same pooling from a tile's conv output (x_f, x_b from the tile's first token on),
        // and the combine's skip term of each token into `skip` (rows of the tile).
        func poolRunsWithSkip(_ tile: TokenTile, _ xf: UnsafePointer<Float>, _ xb: UnsafePointer<Float>, skip: UnsafeMutablePointer<Float>) {
            let (at, count) = pooledGroups(tile)
            poolGroupsWithSkip(ws.pooledF + at, ws.pooledB + at, ldo: e, xf, xb, ldx: e, skip: skip, dF: w.forward.skip,
                               dB: w.backward.skip, groups: count, width: width, interleave: interleave, channels: e,
                               collapse: a.collapse, scale: a.scalingFactor)
        }
        // Pooling rides on the conv pass while its output is in cache, and so does the
        // combine's skip term ½(D_f·x_f + D_b·x_b), written over x_f: the combine then reads
        // one row per token where it read two (as the tiled pass does, `projectAndConvolve`;
        // the same sums as the combine's own, so the logits are the same). A profiled pass
        // runs each stage separately so its time can be reported on its own, and runs every
        // stage untiled for the same reason.
        let fusePool = pools && profile == nil
        let tile = profile == nil && ws.tiles
            ? ws.tiling?.tile(sequence: s, span: span, batch: b, threads: Parallel.runsInline ? 1 : Parallel.width) : nil
        if let tile {
            forEachTile(ws, tile: tile) {
                projectAndConvolve(w, ws, input: input, view: output.view, tile: $0, pool: pools ? poolRunsWithSkip : nil)
            }
        } else {
            profile.measure(.inProj) { inProjection(w, ws, input: input) }
            profile.measure(.conv) {
                if fusePool {
                    convolve(w, ws, span: span, backwardRowsReused: true) { part, xb in
                        let at = (part.image * s + part.tokens.lowerBound) * e
                        poolRunsWithSkip(part, ws.xF + at, xb, skip: ws.xF + at)
                    }
                } else {
                    convolve(w, ws, span: span)
                }
            }
        }
        if pools && !fusePool {
            profile.measure(.pool) { Parallel.tokenTiles(batch: b, sequence: s, span: span) { pool($0) } }
        }
        let uF = pools ? ws.pooledF : ws.xF, uB = pools ? ws.pooledB : ws.xB
        let steps = b * groups
        let directions = [
            (uF, ws.dbcF, ws.deltaF, ws.yF, w.forward, false, ws.scanState),
            (uB, ws.dbcB, ws.deltaB, ws.yB, w.backward, true, ws.scanState + b * n * e),
        ]
        // One direction per thread, its rows unsplit: the projections are small (x_proj's
        // output is R + 2N wide). Measured when they were OpenBLAS calls (splitting both
        // halved their rate); the hand-written kernels kept the arrangement.
        profile.measure(.paramProjection) {
            Parallel.forEach(directions.count) { i in
                let (u, dbc, delta, _, dir, _, _) = directions[i]
                parameterProjection(dir, u: u, dbc: dbc, delta: delta, steps: steps, split: false)
            }
        }
        profile.measure(.scan) { Parallel.batchChannels(batch: b, channels: e) { i, ch in
            for (u, dbc, delta, y, dir, reverse, state) in directions {
                let off = i * groups, c0 = ch.lowerBound
                let bm = dbc + off * xw + r, cm = bm + n
                let shape = ScanShape(steps: groups, channels: ch.count, state: n, ldBC: xw, reverse: reverse, ld: e)
                switch scan {
                case .fast:
                    selectiveScan(y + off * e + c0, u: u + off * e + c0, delta: delta + off * e + c0, aBlocked: dir.aBlocked + c0 * n,
                                  b: bm, c: cm, scratch: state + i * n * e + c0 * n, shape)
                case .reference:
                    selectiveScanReference(y + off * e + c0, u: u + off * e + c0, delta: delta + off * e + c0,
                                           a: dir.a + c0 * n, b: bm, c: cm, shape)
                }
            }
        } }
        guard let tile else {
            guard case let .rows(output) = output else { preconditionFailure("a mixer's output goes to the residual stream only when tiled") }
            profile.measure(.combine) {
                Parallel.ranges(tokens, grain: 8) { rows in
                    combine(w, ws, tokens: rows, z: ws.xz + rows.lowerBound * 2 * e + e, ldz: 2 * e, into: ws.gated + rows.lowerBound * e,
                            groups: groups, width: width, interleave: interleave, skipTerm: fusePool)
                }
            }
            profile.measure(.outProj) { outProjection(w, ws, output: output) }
            return
        }
        forEachTile(ws, tile: tile) {
            combineAndProject(w, ws, input: input, output: output, tile: $0, groups: groups, width: width, interleave: interleave, pooled: pools)
        }
    }

    // MARK: - Stages shared with the masked mixer

    /// xz (T, 2E) = in_proj(input).
    func inProjection(_ w: BlockWeights, _ ws: Workspace, input: UnsafePointer<Float>) {
        let (tokens, d, e) = (ws.batch * ws.sequence, architecture.embedDim, architecture.innerDim)
        gemmNN(ws.xz, ldOut: 2 * e, input, lda: d, w.inProjT, ldb: 2 * e, m: tokens, n: 2 * e, k: d)
        if let bias = w.inProjBias { addRowBias(ws.xz, bias, rows: tokens, cols: 2 * e) }
    }

    /// Conv + SiLU of both directions into xF and xB, tile by tile (`Parallel.tokenTiles`,
    /// runs of `span` tokens), each tile in parts of whole runs of about a mixer tile's
    /// length (`TokenTiling.defaultTarget`); `then` runs on the same task after each part,
    /// while its rows are in L2 (the fused pooling and skip term), given the part's first
    /// x_b row. `backwardRowsReused`: every part of a tile puts its x_b rows at the tile's
    /// first rows of xB, for a `then` that consumes them (x_b then never streams through
    /// memory; xB ends up holding no whole sequence).
    func convolve(_ w: BlockWeights, _ ws: Workspace, span: Int = 1, backwardRowsReused: Bool = false,
                  then: (TokenTile, UnsafePointer<Float>) -> Void = { _, _ in }) {
        let (s, e, k) = (ws.sequence, architecture.innerDim, architecture.convWidth)
        let part = max(1, TokenTiling.defaultTarget / span) * span
        Parallel.tokenTiles(batch: ws.batch, sequence: s, span: span) { tile in
            let i = tile.image
            var t0 = tile.tokens.lowerBound
            while t0 < tile.tokens.upperBound {
                let tokens = t0 ..< min(tile.tokens.upperBound, t0 + part)
                // Where token t0's x_b row goes.
                let xb = ws.xB + (i * s + (backwardRowsReused ? tile.tokens.lowerBound : t0)) * e
                causalConvSiLUPair(ws.xF + i * s * e, xb - t0 * e, ldo: e, ws.xz + i * s * 2 * e, ldx: 2 * e,
                                   forward: w.forward.convTaps, backward: w.backward.convTaps, ldw: e, length: s, channels: e,
                                   width: k, tokens: tokens)
                then(TokenTile(image: i, tokens: tokens), xb)
                t0 = tokens.upperBound
            }
        }
    }

    /// [dt | B | C] = x_proj(u), then δ = softplus(dt_proj(dt) + bias), over `steps` rows,
    /// split by rows over the threads (`split`), or all on the calling thread.
    func parameterProjection(_ dir: DirectionWeights, u: UnsafePointer<Float>, dbc: UnsafeMutablePointer<Float>,
                             delta: UnsafeMutablePointer<Float>, steps: Int, split: Bool = true) {
        let (e, r, xw) = (architecture.innerDim, architecture.dtRank, architecture.xProjWidth)
        Parallel.ranges(steps, grain: split ? 8 : steps) { rows in
            let g = rows.lowerBound
            projectRows(dbc + g * xw, ldOut: xw, u + g * e, ldx: e, dir.xProjT, ldw: paddedWidth(xw), m: rows.count, n: xw, k: e)
            deltaRows(delta + g * e, ldDelta: e, dbc + g * xw, ldDt: xw, dtProjT: dir.dtProjT, bias: dir.dtBias,
                      m: rows.count, e: e, r: r)
        }
    }

    /// output (T, D) = out_proj(gated).
    func outProjection(_ w: BlockWeights, _ ws: Workspace, output: UnsafeMutablePointer<Float>) {
        let (tokens, d, e) = (ws.batch * ws.sequence, architecture.embedDim, architecture.innerDim)
        gemmNN(output, ldOut: d, ws.gated, lda: e, w.outProjT, ldb: d, m: tokens, n: d, k: e)
        if let bias = w.outProjBias { addRowBias(output, bias, rows: tokens, cols: d) }
    }

    func addRowBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int? = nil) {
        for t in 0 ..< rows { let row = x + t * (ld ?? cols); for c in 0 ..< cols { row[c] += bias[c] } }
    }

    /// Repeat each pooled scan output over its run, add the full-resolution D skip of both
    /// directions, average them, LayerNorm (FastVim, Vim w/ LN) and gate with SiLU(z).
    /// For the original Vim this equals averaging the two separately gated directions.
    /// Token `tokens.lowerBound + k`'s row goes to row k of `out`. With `skipTerm`, `ws.xF`
    /// holds ½(D_f·x_f + D_b·x_b) already (pooled models' plain passes) and `ws.xB` is not read.
    /// z of token `tokens.lowerBound + k` is row k of `z` (row stride `ldz`).
    func combine(_ w: BlockWeights, _ ws: Workspace, tokens: Range<Int>, z zRows: UnsafePointer<Float>, ldz: Int,
                 into out: UnsafeMutablePointer<Float>, groups: Int, width: Int, interleave: Int, skipTerm: Bool = false) {
        let e = architecture.innerDim, s = ws.sequence
        let (dF, dB) = (w.forward.skip, w.backward.skip)
        let vectorEnd = e - e % vectorLanes
        let norm = w.layerNormWeight.flatMap { lw in w.layerNormBias.map { (lw, $0) } }
        for token in tokens {
            let i = token / s, t = token % s
            let group = i * groups + (t / (width * interleave)) * interleave + t % interleave
            let v = out + (token - tokens.lowerBound) * e
            let xf = ws.xF + token * e, xb = ws.xB + token * e
            let yf = ws.yF + group * e, yb = ws.yB + group * e
            let z = zRows + (token - tokens.lowerBound) * ldz
            // The row's sum rides on the pass that writes it (the LayerNorm's mean); the norm
            // and the gate then share one pass (`normAndGateRow`).
            var lanes = FloatVector(repeating: 0)
            var c = 0
            let half = FloatVector(repeating: 0.5)
            if skipTerm {
                while c < vectorEnd {
                    let sum = loadV(xf + c).mulAdd(loadV(yf + c) + loadV(yb + c), half)
                    storeV(sum, v + c)
                    lanes += sum
                    c += vectorLanes
                }
            }
            // ½(D_f·x_f + D_b·x_b) + ½(y_f + y_b), in the order `poolGroupsWithSkip` and the
            // loop above sum it: a pass with the skip term folded in gives the same values.
            while c < vectorEnd {
                let skip = (loadV(dF + c) * loadV(xf + c) + loadV(dB + c) * loadV(xb + c)) * 0.5
                let sum = skip.mulAdd(loadV(yf + c) + loadV(yb + c), half)
                storeV(sum, v + c)
                lanes += sum
                c += vectorLanes
            }
            var total = horizontalSum(lanes)
            while c < e {
                let skip = skipTerm ? xf[c] : (dF[c] * xf[c] + dB[c] * xb[c]) * 0.5
                v[c] = (yf[c] + yb[c]) * 0.5 + skip
                total += v[c]
                c += 1
            }
            normAndGateRow(v, sum: total, layerNorm: norm, gate: z, n: e)
        }
    }
}
