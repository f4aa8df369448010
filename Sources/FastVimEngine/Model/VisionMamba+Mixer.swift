extension VisionMamba {
    /// One bidirectional Mamba mixer over every sequence of the batch. The sequence it sees
    /// is `groups` runs of `width` tokens: FastVim pools each run to one token before the
    /// scan (width = a grid row or column), Vim scans every token (width 1, no pooling).
    /// `output` may alias `input`: the input is consumed by in_proj first.
    func mixer(_ w: BlockWeights, _ ws: Workspace, input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
               groups: Int, width: Int, scan: ScanKernel) {
        let a = architecture
        let (b, s, d, e, n, r) = (ws.batch, ws.sequence, a.embedDim, a.innerDim, a.stateDim, a.dtRank)
        let tokens = b * s, xw = a.xProjWidth
        precondition(groups * width == s)

        gemmNT(ws.xz, ldOut: 2 * e, input, lda: d, w.inProj, ldb: d, m: tokens, n: 2 * e, k: d)
        if let bias = w.inProjBias { addRowBias(ws.xz, bias, rows: tokens, cols: 2 * e) }
        let pools = width > 1 || (a.family == .fastvim && a.scalingFactor != 1)
        Parallel.batchChannels(batch: b, channels: e) { i, ch in
            let x = ws.xz + i * s * 2 * e + ch.lowerBound
            for (out, pooled, dir, reverse) in [(ws.xF, ws.pooledF, w.forward, false), (ws.xB, ws.pooledB, w.backward, true)] {
                let o = out + i * s * e + ch.lowerBound
                causalConvSiLU(o, ldo: e, x, ldx: 2 * e, weightT: dir.convT + ch.lowerBound, ldw: e,
                               bias: dir.convBias + ch.lowerBound, length: s, channels: ch.count, width: a.convWidth,
                               reverse: reverse)
                if pools {
                    poolGroups(pooled + i * groups * e + ch.lowerBound, ldo: e, o, ldx: e, groups: groups, width: width,
                               channels: ch.count, collapse: a.collapse, scale: a.scalingFactor)
                }
            }
        }
        let uF = pools ? ws.pooledF : ws.xF, uB = pools ? ws.pooledB : ws.xB
        let steps = b * groups
        let directions = [
            (uF, ws.dbcF, ws.deltaF, ws.yF, w.forward, false, ws.scanState),
            (uB, ws.dbcB, ws.deltaB, ws.yB, w.backward, true, ws.scanState + b * n * e),
        ]
        for (u, dbc, delta, _, dir, _, _) in directions {
            gemmNT(dbc, ldOut: xw, u, lda: e, dir.xProj, ldb: e, m: steps, n: xw, k: e)
            gemmNT(delta, ldOut: e, dbc, lda: xw, dir.dtProj, ldb: r, m: steps, n: e, k: r)
            Parallel.ranges(steps, grain: 4) { rows in
                for g in rows {
                    let row = delta + g * e
                    for c in 0 ..< e { row[c] = softplus(row[c] + dir.dtBias[c]) }
                }
            }
        }
        Parallel.batchChannels(batch: b, channels: e) { i, ch in
            for (u, dbc, delta, y, dir, reverse, state) in directions {
                let off = i * groups, c0 = ch.lowerBound
                let bm = dbc + off * xw + r, cm = bm + n
                let shape = ScanShape(steps: groups, channels: ch.count, state: n, ldBC: xw, reverse: reverse, ld: e)
                switch scan {
                case .fast:
                    selectiveScan(y + off * e + c0, u: u + off * e + c0, delta: delta + off * e + c0, aT: dir.aT + c0,
                                  b: bm, c: cm, scratch: state + i * n * e + c0, shape)
                case .reference:
                    selectiveScanReference(y + off * e + c0, u: u + off * e + c0, delta: delta + off * e + c0,
                                           a: dir.a + c0 * n, b: bm, c: cm, shape)
                }
            }
        }
        Parallel.ranges(tokens, grain: 8) { rows in combine(w, ws, tokens: rows, groups: groups, width: width) }
        gemmNT(output, ldOut: d, ws.gated, lda: e, w.outProj, ldb: e, m: tokens, n: d, k: e)
        if let bias = w.outProjBias { addRowBias(output, bias, rows: tokens, cols: d) }
    }

    private func addRowBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, cols: Int) {
        for t in 0 ..< rows { let row = x + t * cols; for c in 0 ..< cols { row[c] += bias[c] } }
    }

    /// Repeat each pooled scan output over its run, add the full-resolution D skip of both
    /// directions, average them, LayerNorm (FastVim, Vim w/ LN) and gate with SiLU(z).
    /// For the original Vim this equals averaging the two separately gated directions.
    private func combine(_ w: BlockWeights, _ ws: Workspace, tokens: Range<Int>, groups: Int, width: Int) {
        let e = architecture.innerDim, s = ws.sequence
        let (dF, dB) = (w.forward.skip, w.backward.skip)
        let vectorEnd = e - e % 8
        for token in tokens {
            let i = token / s, t = token % s
            let group = i * groups + t / width
            let v = ws.gated + token * e
            let xf = ws.xF + token * e, xb = ws.xB + token * e
            let yf = ws.yF + group * e, yb = ws.yB + group * e
            let z = ws.xz + token * 2 * e + e
            var c = 0
            while c < vectorEnd {
                let sum = load8(yf + c) + load8(dF + c) * load8(xf + c) + load8(yb + c) + load8(dB + c) * load8(xb + c)
                store8(sum * 0.5, v + c)
                c += 8
            }
            while c < e {
                v[c] = (yf[c] + dF[c] * xf[c] + yb[c] + dB[c] * xb[c]) * 0.5
                c += 1
            }
            if let lw = w.layerNormWeight, let lb = w.layerNormBias {
                layerNormRow(v, weight: lw, bias: lb, n: e)
            }
            c = 0
            while c < vectorEnd {
                store8(load8(v + c) * silu8(load8(z + c)), v + c)
                c += 8
            }
            while c < e {
                v[c] *= silu(z[c])
                c += 1
            }
        }
    }
}
