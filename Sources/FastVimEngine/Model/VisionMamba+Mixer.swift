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
        if let bias = w.inProjBias {
            for t in 0 ..< tokens { let row = ws.xz + t * 2 * e; for c in 0 ..< 2 * e { row[c] += bias[c] } }
        }
        let pools = width > 1 || (a.family == .fastvim && a.scalingFactor != 1)
        for i in 0 ..< b {
            let x = ws.xz + i * s * 2 * e
            causalConvSiLU(ws.xF + i * s * e, x, ldx: 2 * e, weightT: w.forward.convT, bias: w.forward.convBias,
                           length: s, channels: e, width: a.convWidth, reverse: false)
            causalConvSiLU(ws.xB + i * s * e, x, ldx: 2 * e, weightT: w.backward.convT, bias: w.backward.convBias,
                           length: s, channels: e, width: a.convWidth, reverse: true)
            if pools {
                poolGroups(ws.pooledF + i * groups * e, ws.xF + i * s * e, groups: groups, width: width, channels: e,
                           collapse: a.collapse, scale: a.scalingFactor)
                poolGroups(ws.pooledB + i * groups * e, ws.xB + i * s * e, groups: groups, width: width, channels: e,
                           collapse: a.collapse, scale: a.scalingFactor)
            }
        }
        let uF = pools ? ws.pooledF : ws.xF, uB = pools ? ws.pooledB : ws.xB
        let steps = b * groups
        for (u, dbc, delta, y, dir, reverse, state) in [
            (uF, ws.dbcF, ws.deltaF, ws.yF, w.forward, false, ws.scanState),
            (uB, ws.dbcB, ws.deltaB, ws.yB, w.backward, true, ws.scanState + n * e),
        ] {
            gemmNT(dbc, ldOut: xw, u, lda: e, dir.xProj, ldb: e, m: steps, n: xw, k: e)
            gemmNT(delta, ldOut: e, dbc, lda: xw, dir.dtProj, ldb: r, m: steps, n: e, k: r)
            for g in 0 ..< steps {
                let row = delta + g * e
                for c in 0 ..< e { row[c] = softplus(row[c] + dir.dtBias[c]) }
            }
            let shape = ScanShape(steps: groups, channels: e, state: n, ldBC: xw, reverse: reverse)
            for i in 0 ..< b {
                let off = i * groups
                let bm = dbc + off * xw + r, cm = bm + n
                switch scan {
                case .fast:
                    selectiveScan(y + off * e, u: u + off * e, delta: delta + off * e, aT: dir.aT, b: bm, c: cm,
                                  scratch: state, shape)
                case .reference:
                    selectiveScanReference(y + off * e, u: u + off * e, delta: delta + off * e, a: dir.a, b: bm, c: cm, shape)
                }
            }
        }
        combine(w, ws, groups: groups, width: width)
        gemmNT(output, ldOut: d, ws.gated, lda: e, w.outProj, ldb: e, m: tokens, n: d, k: e)
        if let bias = w.outProjBias {
            for t in 0 ..< tokens { let row = output + t * d; for c in 0 ..< d { row[c] += bias[c] } }
        }
    }

    /// Repeat each pooled scan output over its run, add the full-resolution D skip of both
    /// directions, average them, LayerNorm (FastVim, Vim w/ LN) and gate with SiLU(z).
    /// For the original Vim this equals averaging the two separately gated directions.
    private func combine(_ w: BlockWeights, _ ws: Workspace, groups: Int, width: Int) {
        let e = architecture.innerDim, s = ws.sequence
        let (dF, dB) = (w.forward.skip, w.backward.skip)
        let vectorEnd = e - e % 8
        for i in 0 ..< ws.batch {
            for t in 0 ..< s {
                let token = i * s + t, group = i * groups + t / width
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
}
