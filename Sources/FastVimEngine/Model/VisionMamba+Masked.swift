/// FastMaskVim: the MAE encoder's masked forward. Only the kept tokens (`ids_keep`, indices
/// of the row-major grid in increasing order) enter the blocks. Each mixer pools the kept
/// tokens of a row by "constant divide" (row sum over the grid's full column count; empty
/// rows pool to zero), scans every row, and gives each kept token its row's output plus its
/// own D skip. Reproduced quirk of the reference: the backward branch pools the flipped
/// sequence's k-th token into the row of the unflipped k-th id, scans the rows in order, and
/// gathers by the same ids before the result is flipped back.
extension VisionMamba {
    /// Encodes images (B, C, H, W) keeping `idsKeep` (B, K) tokens; returns the normalised
    /// latent (B, K, D) of the kept tokens.
    public func encodeMasked(input: [Float], batch: Int, height: Int, width: Int, idsKeep: [Int]) throws(CheckpointError) -> [Float] {
        let keep = try checkMasked(inputCount: input.count, batch: batch, height: height, width: width, idsKeep: idsKeep)
        let ws = try makeWorkspace(batch: batch, height: height, width: width, keptTokens: keep)
        input.withUnsafeBufferPointer { encodeMasked(ws, input: $0.baseAddress!, idsKeep: idsKeep) }
        return Array(UnsafeBufferPointer(start: ws.normed, count: batch * keep * architecture.embedDim))
    }

    /// What a masked request must satisfy, on any backend: a FastVim checkpoint, the same
    /// number of kept tokens per image, increasing ids inside the grid. Returns that number.
    public func checkMasked(inputCount: Int, batch: Int, height: Int, width: Int, idsKeep: [Int]) throws(CheckpointError) -> Int {
        let a = architecture
        guard a.family == .fastvim, !a.perChannelTokens else {
            throw .invalidConfig("masked encoding needs a FastVim checkpoint (FastMaskVim); this is \(a.family.rawValue)")
        }
        guard batch > 0, idsKeep.count % batch == 0, !idsKeep.isEmpty else {
            throw .invalidConfig("ids_keep must hold the same number of kept tokens for each of the \(batch) images")
        }
        guard inputCount == batch * a.inChannels * height * width else {
            throw .invalidConfig("input holds \(inputCount) values, expected \(batch)x\(a.inChannels)x\(height)x\(width)")
        }
        let keep = idsKeep.count / batch
        let grid = Grid(height: height, width: width, patch: a.patchSize, stride: a.stride)
        let positions = grid.count
        for i in 0 ..< batch {
            let ids = idsKeep[i * keep ..< (i + 1) * keep]
            guard ids.allSatisfy({ $0 >= 0 && $0 < positions }), zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw .invalidConfig("ids_keep of image \(i) must be increasing token indices below \(positions) (the \(grid) grid)")
            }
        }
        return keep
    }

    /// Where each kept token goes in block `layer`'s view of the grid: odd blocks see it
    /// transposed, so ids map to c·rows + r and the tokens are taken in the new ids' order.
    /// `order[i·K + slot]` is the token at `slot`, `row[i·K + slot]` its view row.
    public static func maskedView(layer: Int, grid: Grid, batch: Int, idsKeep: [Int]) -> (order: [Int], row: [Int]) {
        let (rows, cols) = (grid.rows, grid.cols)
        let k = idsKeep.count / batch
        let odd = layer % 2 == 1
        var order = [Int](repeating: 0, count: batch * k)
        var row = [Int](repeating: 0, count: batch * k)
        let viewCols = odd ? rows : cols
        for i in 0 ..< batch {
            let mapped = (0 ..< k).map { t -> Int in
                let id = idsKeep[i * k + t]
                return odd ? (id % cols) * rows + id / cols : id
            }
            let sorted = (0 ..< k).sorted { mapped[$0] < mapped[$1] }
            for (slot, t) in sorted.enumerated() {
                order[i * k + slot] = t
                row[i * k + slot] = mapped[t] / viewCols
            }
        }
        return (order, row)
    }

    private func encodeMasked(_ ws: Workspace, input: UnsafePointer<Float>, idsKeep: [Int]) {
        let a = architecture
        let (b, d, k) = (ws.batch, a.embedDim, ws.tokens)
        let (rows, cols) = (ws.grid.rows, ws.grid.cols)
        // Patch-embed the whole grid, then keep the chosen tokens.
        let positions = ws.grid.count
        let patchLength = a.inChannels * a.patchSize * a.patchSize
        let plane = a.inChannels * ws.height * ws.width
        Parallel.forEach(b) { i in
            im2col(ws.columns + i * positions * patchLength, image: input + i * plane, channels: a.inChannels,
                   height: ws.height, width: ws.width, patch: a.patchSize, stride: a.stride, rows: rows, columns: cols)
        }
        gemmNN(ws.patches, ldOut: d, ws.columns, lda: patchLength, weights.patchWeightT, ldb: d,
               m: b * positions, n: d, k: patchLength)
        for i in 0 ..< b {
            for t in 0 ..< k {
                let id = idsKeep[i * k + t]
                let dst = ws.hidden + (i * k + t) * d, src = ws.patches + (i * positions + id) * d, pos = ws.posEmbed + id * d
                for c in 0 ..< d { dst[c] = src[c] + weights.patchBias[c] + pos[c] }
            }
        }
        for (layer, block) in weights.blocks.enumerated() {
            if layer == 0 { ws.residual.update(from: ws.hidden, count: b * k * d) }
            addNorm(ws, weight: block.norm, add: layer > 0)
            // The kept tokens in this block's view of the grid; the order is restored after the mixer.
            let odd = layer % 2 == 1
            let (order, rowOf) = Self.maskedView(layer: layer, grid: ws.grid, batch: b, idsKeep: idsKeep)
            for i in 0 ..< b {
                for slot in 0 ..< k {
                    (ws.permuted + (i * k + slot) * d).update(from: ws.normed + (i * k + order[i * k + slot]) * d, count: d)
                }
            }
            let (viewRows, viewCols) = odd ? (cols, rows) : (rows, cols)
            maskedMixer(block, ws, rowOf: rowOf, groups: viewRows, columns: viewCols)
            for i in 0 ..< b {
                for slot in 0 ..< k {
                    (ws.hidden + (i * k + order[i * k + slot]) * d).update(from: ws.permuted + (i * k + slot) * d, count: d)
                }
            }
        }
        addNorm(ws, weight: weights.normF, add: true)
    }

    /// The masked mixer over `ws.permuted` (in place). `rowOf[i·K + k]` is the view row of
    /// kept token k of image i.
    private func maskedMixer(_ w: BlockWeights, _ ws: Workspace, rowOf: [Int], groups: Int, columns: Int) {
        let a = architecture
        let (b, s, e, n, r) = (ws.batch, ws.sequence, a.innerDim, a.stateDim, a.dtRank)
        let xw = a.xProjWidth
        inProjection(w, ws, input: ws.permuted)
        convolve(w, ws)
        // Constant-divide row pooling; the backward branch's k-th flipped token (original
        // position K-1-k) lands in the row of the k-th id.
        let scale = 1 / Float(columns)
        ws.pooledF.update(repeating: 0, count: b * groups * e)
        ws.pooledB.update(repeating: 0, count: b * groups * e)
        for i in 0 ..< b {
            for t in 0 ..< s {
                let row = rowOf[i * s + t]
                let pf = ws.pooledF + (i * groups + row) * e, pb = ws.pooledB + (i * groups + row) * e
                let xf = ws.xF + (i * s + t) * e, xb = ws.xB + (i * s + (s - 1 - t)) * e
                for c in 0 ..< e {
                    pf[c] += xf[c] * scale
                    pb[c] += xb[c] * scale
                }
            }
        }
        let steps = b * groups
        for (u, dbc, delta, y, dir, state) in [
            (ws.pooledF, ws.dbcF, ws.deltaF, ws.yF, w.forward, ws.scanState),
            (ws.pooledB, ws.dbcB, ws.deltaB, ws.yB, w.backward, ws.scanState + b * n * e),
        ] {
            parameterProjection(dir, u: u, dbc: dbc, delta: delta, steps: steps)
            // Both branches scan the rows in increasing order (the reference's quirk).
            let shape = ScanShape(steps: groups, channels: e, state: n, ldBC: xw, reverse: false)
            Parallel.forEach(b) { i in
                let off = i * groups
                selectiveScan(y + off * e, u: u + off * e, delta: delta + off * e, aBlocked: dir.aBlocked, b: dbc + off * xw + r,
                              c: dbc + off * xw + r + n, scratch: state + i * n * e, shape)
            }
        }
        // v[k] = (y_f[row k] + D·x_f[k] + y_b[row of K-1-k] + D_b·x_b[k]) / 2, LayerNorm, SiLU(z) gate.
        for i in 0 ..< b {
            for t in 0 ..< s {
                let token = i * s + t
                let yf = ws.yF + (i * groups + rowOf[token]) * e
                let yb = ws.yB + (i * groups + rowOf[i * s + (s - 1 - t)]) * e
                let xf = ws.xF + token * e, xb = ws.xB + token * e, z = ws.xz + token * 2 * e + e
                let v = ws.gated + token * e
                for c in 0 ..< e { v[c] = (yf[c] + w.forward.skip[c] * xf[c] + yb[c] + w.backward.skip[c] * xb[c]) * 0.5 }
                if let lw = w.layerNormWeight, let lb = w.layerNormBias { layerNormRow(v, weight: lw, bias: lb, n: e) }
                for c in 0 ..< e { v[c] *= silu(z[c]) }
            }
        }
        outProjection(w, ws, output: ws.permuted)
    }
}
