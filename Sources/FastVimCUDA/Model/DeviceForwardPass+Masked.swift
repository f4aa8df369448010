import FastVimEngine

extension DeviceForwardPass {
    /// FastMaskVim's masked encoding (`VisionMamba.encodeMasked`) on the device: images
    /// (B, C, H, W) and the kept token ids (B, K), checked by `VisionMamba.checkMasked`, in;
    /// the normalised latent (B, K, D) of the kept tokens out. The pass must have been made
    /// for K kept tokens.
    public func encodeMasked(input: UnsafePointer<Float>, idsKeep: [Int]) throws -> [Float] {
        guard let k = plan.keptTokens, idsKeep.count == batch * k else {
            throw CUDAError.launch(kernel: "masked encoding", "a pass for \(plan.keptTokens ?? 0) kept tokens got \(idsKeep.count / max(batch, 1))")
        }
        let a = plan.architecture
        func indices(_ values: [Int], into buffer: Activation) throws {
            let target = self.buffer(buffer)
            try values.map(Int32.init).withUnsafeBytes { try device.upload($0, to: target) }
        }
        try indices(idsKeep, into: .keptIds)
        // Each block parity's view of the kept tokens: the same for every even, every odd block.
        for parity in 0 ..< 2 {
            let (order, row) = VisionMamba.maskedView(layer: parity, grid: plan.grid, batch: batch, idsKeep: idsKeep)
            try indices(order, into: .order(parity: parity))
            try indices(row, into: .rowOf(parity: parity))
        }
        try uploadInput(input)
        try enqueueMasked()
        let latent = try device.download(buffer(.normed), floats: batch * k * a.embedDim)
        try device.synchronize()
        return latent
    }

    /// The grid embedded whole, the kept tokens gathered, then blocks that reorder them into
    /// their view of the grid around each masked mixer, and the final norm.
    private func enqueueMasked() throws {
        let a = plan.architecture
        let (b, k, d) = (batch, plan.sequence, a.embedDim)
        try embedPatches()
        try device.launch(.gatherKept(hidden: buffer(.residual), patches: buffer(.patches), bias: weights.patchBias,
                                      pos: buffer(.position), ids: buffer(.keptIds), batch: b, positions: plan.grid.count, k: k, d: d))
        for (i, block) in weights.blocks.enumerated() {
            try device.launch(.addRMSNorm(out: buffer(.normed), residual: buffer(.residual), hidden: buffer(.hidden),
                                          weight: block.norm, rows: b * k, d: d, add: i > 0, eps: Self.epsilon))
            let order = buffer(.order(parity: i % 2))
            let (viewRows, viewCols) = i % 2 == 1 ? (plan.grid.cols, plan.grid.rows) : (plan.grid.rows, plan.grid.cols)
            try permute(buffer(.permuted), buffer(.normed), order, scatter: false)
            try mixer(block, plan.mixerView(block: i), input: buffer(.permuted), output: buffer(.permuted),
                      masked: MaskedRows(rowOf: buffer(.rowOf(parity: i % 2)), groups: viewRows, columns: viewCols))
            try permute(buffer(.hidden), buffer(.permuted), order, scatter: true)
        }
        try device.launch(.addRMSNorm(out: buffer(.normed), residual: buffer(.residual), hidden: buffer(.hidden),
                                      weight: weights.normF, rows: b * k, d: d, add: true, eps: Self.epsilon))
    }

    private func permute(_ out: DevicePointer, _ x: DevicePointer, _ order: DevicePointer, scatter: Bool) throws {
        let d = plan.architecture.embedDim
        try device.launch(.permuteTokens(out: out, x: x, order: order, batch: batch, k: plan.sequence, d: d, scatter: scatter))
    }
}
