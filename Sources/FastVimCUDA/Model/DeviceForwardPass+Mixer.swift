import FastVimEngine

extension DeviceForwardPass {
    /// FastMaskVim's rows: the view row of each kept token (int32 on the device), how many
    /// rows the view has, and the full row length the pooling divides by.
    struct MaskedRows {
        let rowOf: DevicePointer
        let groups: Int
        let columns: Int
    }

    /// One bidirectional mixer: in_proj, conv + SiLU (+ pooling), x_proj/dt_proj, the two
    /// scans, the fused repeat/skip/combine/LayerNorm/gate, out_proj. `output` may be `input`.
    /// `masked`: the kept tokens are pooled by row after the conv, and both directions scan
    /// the rows in increasing order (the reference's quirk).
    func mixer(_ w: DeviceWeights.Block, _ view: ForwardPlan.MixerView, input: DevicePointer,
               output: DevicePointer, masked: MaskedRows? = nil) throws {
        let a = plan.architecture
        let (b, s, d, e, n, r) = (batch, plan.sequence, a.embedDim, a.innerDim, a.stateDim, a.dtRank)
        let groups = masked?.groups ?? view.groups
        let tokens = b * s, xw = r + 2 * n, steps = b * groups
        try stage(.inProj) {
            try device.gemmNT(out: buffer(.xz), ldOut: 2 * e, a: input, lda: d, b: w.inProj, ldb: d, m: tokens, n: 2 * e, k: d,
                              accumulate: false)
            if let bias = w.inProjBias { try addBias(buffer(.xz), bias, rows: tokens, cols: 2 * e) }
        }
        // The two directions are independent: each stage runs for both, so a profile can time it.
        let directions = [(w.forward, Activation.Direction.forward), (w.backward, .backward)]
        func u(_ d: Activation.Direction) -> DevicePointer { a.pools ? buffer(.pooled(d)) : buffer(.convolved(d)) }
        try stage(.conv) {
            // Masked: the conv runs over the kept tokens alone, pooled by row afterwards.
            let (convGroups, width, interleave) = masked == nil ? (view.groups, view.width, view.interleave) : (s, 1, 1)
            for (dir, direction) in directions {
                try device.launch(.convSiLUPool(out: buffer(.convolved(direction)),
                                                pooled: a.pools && masked == nil ? buffer(.pooled(direction)) : nil,
                                                xz: buffer(.xz), weightT: dir.convT, bias: dir.convBias, batch: b, sequence: s, e: e,
                                                k: a.convWidth, reverse: direction == .backward, groups: convGroups, width: width,
                                                interleave: interleave, collapseMax: a.collapse == .max, scale: a.scalingFactor))
            }
            if let masked {
                try device.launch(.maskedPool(pooledF: buffer(.pooled(.forward)), pooledB: buffer(.pooled(.backward)),
                                              xF: buffer(.convolved(.forward)), xB: buffer(.convolved(.backward)), rowOf: masked.rowOf,
                                              batch: b, k: s, groups: masked.groups, e: e, scale: 1 / Float(masked.columns)))
            }
        }
        try stage(.paramProjection) {
            for (dir, direction) in directions {
                let dbc = buffer(.projected(direction)), delta = buffer(.delta(direction))
                try device.gemmNT(out: dbc, ldOut: xw, a: u(direction), lda: e, b: dir.xProj, ldb: e, m: steps, n: xw, k: e,
                                  accumulate: false)
                try device.gemmNT(out: delta, ldOut: e, a: dbc, lda: xw, b: dir.dtProj, ldb: r, m: steps, n: e, k: r, accumulate: false)
                try device.launch(.softplusBias(delta: delta, bias: dir.dtBias, rows: steps, e: e))
            }
        }
        try stage(.scan) {
            for (dir, direction) in directions {
                let operands = KernelCall.ScanOperands(
                    u: u(direction), delta: buffer(.delta(direction)), a: dir.a, dbc: buffer(.projected(direction)), batch: b,
                    steps: groups, e: e, n: n, ldBC: xw, r: r, reverse: direction == .backward && masked == nil)
                let chunks = plan.scanChunks(steps: groups)
                if chunks > 1 {
                    try chunkedScan(y: buffer(.scanned(direction)), operands, chunks: chunks)
                } else {
                    try device.launch(.selectiveScan(y: buffer(.scanned(direction)), operands))
                }
            }
        }
        try stage(.combine) {
            try device.launch(.combineNormGate(gated: buffer(.gated), yF: buffer(.scanned(.forward)), yB: buffer(.scanned(.backward)),
                                               xF: buffer(.convolved(.forward)), xB: buffer(.convolved(.backward)), xz: buffer(.xz),
                                               dF: w.forward.skip, dB: w.backward.skip, lnW: w.layerNormWeight,
                                               lnB: w.layerNormBias, rowOf: masked?.rowOf, batch: b, sequence: s, e: e,
                                               groups: groups, width: view.width, interleave: view.interleave, eps: Self.epsilon))
        }
        try stage(.outProj) {
            try device.gemmNT(out: output, ldOut: d, a: buffer(.gated), lda: e, b: w.outProj, ldb: e, m: tokens, n: d, k: e,
                              accumulate: false)
            if let bias = w.outProjBias { try addBias(output, bias, rows: tokens, cols: d) }
        }
    }

    /// The scan in chunks: zero-started chunk states and decays, the carry across chunks,
    /// then every chunk rescanned from its true start.
    private func chunkedScan(y: DevicePointer, _ operands: KernelCall.ScanOperands, chunks: Int) throws {
        let (states, decays, chunk) = (buffer(.chunkState), buffer(.chunkDecay), plan.chunking.length)
        try device.launch(.scanChunkStates(chunkState: states, chunkDecay: decays, operands, chunk: chunk, chunks: chunks))
        try device.launch(.scanChunkCarry(chunkState: states, chunkDecay: decays, batch: operands.batch, e: operands.e,
                                          n: operands.n, chunks: chunks))
        try device.launch(.selectiveScanChunked(y: y, operands, chunkStart: states, chunk: chunk, chunks: chunks))
    }

    func addBias(_ x: DevicePointer, _ bias: DevicePointer, rows: Int, cols: Int) throws(CUDAError) {
        try device.launch(.addRowBias(x: x, bias: bias, rows: rows, cols: cols))
    }
}
