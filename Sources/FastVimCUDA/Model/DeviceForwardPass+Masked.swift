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
        func indices(_ values: [Int], into name: String) throws {
            let target = buffer(name)
            try values.map(Int32.init).withUnsafeBytes { try device.upload($0, to: target) }
        }
        try indices(idsKeep, into: "ids")
        // Each block parity's view of the kept tokens: the same for every even, every odd block.
        for parity in 0 ..< 2 {
            let (order, row) = VisionMamba.maskedView(layer: parity, grid: plan.grid, batch: batch, idsKeep: idsKeep)
            try indices(order, into: "order_\(parity)")
            try indices(row, into: "row_\(parity)")
        }
        try uploadInput(input)
        try enqueueMasked()
        let latent = try device.download(buffer("normed"), floats: batch * k * a.embedDim)
        try device.synchronize()
        return latent
    }

    /// The grid embedded whole, the kept tokens gathered, then blocks that reorder them into
    /// their view of the grid around each masked mixer, and the final norm.
    private func enqueueMasked() throws {
        let a = plan.architecture
        let (b, k, d) = (batch, plan.sequence, a.embedDim)
        try embedPatches()
        try launch(CUDAKernel.gatherKept, .elementwise(b * k * d), [
            .pointer(buffer("residual")), .pointer(buffer("patches")), .pointer(weights.patchBias), .pointer(buffer("position")),
            .pointer(buffer("ids")), .int(b), .int(plan.grid.count), .int(k), .int(d),
        ])
        for (i, block) in weights.blocks.enumerated() {
            try launch(CUDAKernel.addRMSNorm, .perRow(b * k, width: d), [
                .pointer(buffer("normed")), .pointer(buffer("residual")), .pointer(buffer("hidden")), .pointer(block.norm),
                .int(d), .flag(i > 0), .float(Self.epsilon),
            ])
            let order = buffer("order_\(i % 2)")
            let (viewRows, viewCols) = i % 2 == 1 ? (plan.grid.cols, plan.grid.rows) : (plan.grid.rows, plan.grid.cols)
            try permute(buffer("permuted"), buffer("normed"), order, scatter: false)
            try mixer(block, plan.mixerView(block: i), input: buffer("permuted"), output: buffer("permuted"),
                      masked: MaskedRows(rowOf: buffer("row_\(i % 2)"), groups: viewRows, columns: viewCols))
            try permute(buffer("hidden"), buffer("permuted"), order, scatter: true)
        }
        try launch(CUDAKernel.addRMSNorm, .perRow(b * k, width: d), [
            .pointer(buffer("normed")), .pointer(buffer("residual")), .pointer(buffer("hidden")), .pointer(weights.normF),
            .int(d), .flag(true), .float(Self.epsilon),
        ])
    }

    private func permute(_ out: DevicePointer, _ x: DevicePointer, _ order: DevicePointer, scatter: Bool) throws {
        let d = plan.architecture.embedDim
        try launch(CUDAKernel.permuteTokens, .elementwise(batch * plan.sequence * d), [
            .pointer(out), .pointer(x), .pointer(order), .int(batch), .int(plan.sequence), .int(d), .flag(scatter),
        ])
    }
}
