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
            try device.gemmNT(out: buffer("xz"), ldOut: 2 * e, a: input, lda: d, b: w.inProj, ldb: d, m: tokens, n: 2 * e, k: d,
                              accumulate: false)
            if let bias = w.inProjBias { try addBias(buffer("xz"), bias, rows: tokens, cols: 2 * e) }
        }
        // The two directions are independent: each stage runs for both, so a profile can time it.
        let directions = [(w.forward, "_f", false), (w.backward, "_b", true)]
        func u(_ suffix: String) -> DevicePointer { a.pools ? buffer("pooled" + suffix) : buffer("x" + suffix) }
        try stage(.conv) {
            // Masked: the conv runs over the kept tokens alone, pooled by row afterwards.
            let (convGroups, width, interleave) = masked == nil ? (view.groups, view.width, view.interleave) : (s, 1, 1)
            for (dir, suffix, reverse) in directions {
                try launch(CUDAKernel.convSiLUPool, .elementwise(b * convGroups * e), [
                    .pointer(buffer("x" + suffix)), .pointer(a.pools && masked == nil ? buffer("pooled" + suffix) : nil),
                    .pointer(buffer("xz")), .pointer(dir.convT), .pointer(dir.convBias), .int(b), .int(s), .int(e), .int(a.convWidth),
                    .flag(reverse), .int(convGroups), .int(width), .int(interleave), .flag(a.collapse == .max), .float(a.scalingFactor),
                ])
            }
            if let masked {
                try launch(CUDAKernel.maskedPool, .elementwise(b * masked.groups * e), [
                    .pointer(buffer("pooled_f")), .pointer(buffer("pooled_b")), .pointer(buffer("x_f")), .pointer(buffer("x_b")),
                    .pointer(masked.rowOf), .int(b), .int(s), .int(masked.groups), .int(e), .float(1 / Float(masked.columns)),
                ])
            }
        }
        try stage(.paramProjection) {
            for (dir, suffix, _) in directions {
                let dbc = buffer("dbc" + suffix), delta = buffer("delta" + suffix)
                try device.gemmNT(out: dbc, ldOut: xw, a: u(suffix), lda: e, b: dir.xProj, ldb: e, m: steps, n: xw, k: e, accumulate: false)
                try device.gemmNT(out: delta, ldOut: e, a: dbc, lda: xw, b: dir.dtProj, ldb: r, m: steps, n: e, k: r, accumulate: false)
                try launch(CUDAKernel.softplusBias, .elementwise(steps * e), [.pointer(delta), .pointer(dir.dtBias), .long(steps), .int(e)])
            }
        }
        try stage(.scan) {
            for (dir, suffix, reverse) in directions {
                let arguments: [KernelArgument] = [
                    .pointer(buffer("y" + suffix)), .pointer(u(suffix)), .pointer(buffer("delta" + suffix)), .pointer(dir.a),
                    .pointer(buffer("dbc" + suffix)), .int(b), .int(groups), .int(e), .int(n), .int(xw), .int(r),
                    .flag(reverse && masked == nil),
                ]
                let chunks = plan.scanChunks(steps: groups)
                if chunks > 1 {
                    try chunkedScan(arguments, chunks: chunks)
                } else if plan.usesLaneScan {
                    try launch(CUDAKernel.selectiveScanLanes, .elementwise(b * e * n), arguments)
                } else {
                    try launch(CUDAKernel.selectiveScan, .elementwise(b * e), arguments)
                }
            }
        }
        try stage(.combine) {
            try launch(CUDAKernel.combineNormGate, .perRow(tokens, width: e), [
                .pointer(buffer("gated")), .pointer(buffer("y_f")), .pointer(buffer("y_b")), .pointer(buffer("x_f")),
                .pointer(buffer("x_b")), .pointer(buffer("xz")), .pointer(w.forward.skip), .pointer(w.backward.skip),
                .pointer(w.layerNormWeight), .pointer(w.layerNormBias), .pointer(masked?.rowOf), .int(s), .int(e), .int(groups),
                .int(view.width), .int(view.interleave), .float(Self.epsilon),
            ])
        }
        try stage(.outProj) {
            try device.gemmNT(out: output, ldOut: d, a: buffer("gated"), lda: e, b: w.outProj, ldb: e, m: tokens, n: d, k: e,
                              accumulate: false)
            if let bias = w.outProjBias { try addBias(output, bias, rows: tokens, cols: d) }
        }
    }

    /// The scan in chunks: zero-started chunk states and decays, the carry across chunks,
    /// then every chunk rescanned from its true start. `scan` is the one-pass kernel's
    /// arguments: y, u, delta, a, dbc, then the shape.
    private func chunkedScan(_ scan: [KernelArgument], chunks: Int) throws {
        let a = plan.architecture
        let (b, e, n) = (batch, a.innerDim, a.stateDim)
        let (y, inputs, shape) = (scan[0], Array(scan[1 ..< 5]), Array(scan[5...]))
        let chunked = shape + [.int(plan.chunking.length), .int(chunks)]
        let (states, decays) = (buffer("chunk_state"), buffer("chunk_decay"))
        try launch(CUDAKernel.scanChunkStates, .elementwise(b * chunks * e * n), [.pointer(states), .pointer(decays)] + inputs + chunked)
        try launch(CUDAKernel.scanChunkCarry, .elementwise(b * e * n), [.pointer(states), .pointer(decays), .int(b), .int(e), .int(n), .int(chunks)])
        try launch(CUDAKernel.selectiveScanChunked, .elementwise(b * chunks * e * n), [y] + inputs + [.pointer(states)] + chunked)
    }

    func addBias(_ x: DevicePointer, _ bias: DevicePointer, rows: Int, cols: Int) throws(CUDAError) {
        try launch(CUDAKernel.addRowBias, .elementwise(rows * cols), [.pointer(x), .pointer(bias), .long(rows), .int(cols)])
    }
}
