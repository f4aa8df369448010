import Foundation

/// A FastVim or Vim classifier ready to run on the CPU. Immutable after loading, so one
/// model serves many threads, each with its own `Workspace`.
public final class VisionMamba: @unchecked Sendable {
    public let architecture: Architecture
    public let config: ModelConfig
    public let checkpoint: Checkpoint
    let weights: ModelWeights

    public init(checkpoint: Checkpoint, config: ModelConfig = ModelConfig()) throws(CheckpointError) {
        self.checkpoint = checkpoint
        self.config = config
        architecture = try Architecture(checkpoint: checkpoint, config: config)
        weights = try ModelWeights(checkpoint, architecture)
    }

    /// Loads a checkpoint and its config (`--config`, else `<checkpoint>.json` if present).
    public convenience init(path: String, configPath: String? = nil, weights: WeightsChoice = .auto) throws(CheckpointError) {
        let (config, _) = try ModelConfig.locate(explicit: configPath, checkpoint: path)
        try self.init(checkpoint: try Checkpoint(path: path, weights: weights), config: config)
    }

    public var parameterCount: Int { checkpoint.parameterCount }

    /// Buffers for inputs of this batch size and image size, with the position embedding
    /// fitted to the input's grid. `tiling`: how long sequences are cut (nil: never).
    /// `untiledBuffers`: for profiled and traced passes (`Workspace.isTiledOnly`).
    public func makeWorkspace(batch: Int, height: Int, width: Int, keptTokens: Int? = nil,
                              tiling: TokenTiling? = TokenTiling(), untiledBuffers: Bool = false) throws(CheckpointError) -> Workspace {
        let ws = try Workspace(model: architecture, batch: batch, height: height, width: width, keptTokens: keptTokens,
                               tiling: tiling, untiledBuffers: untiledBuffers)
        try fitPositionEmbedding(into: ws)
        return ws
    }

    /// Which scan implementation runs; `.reference` is the plain-loop oracle.
    public enum ScanKernel: Sendable { case fast, reference }

    /// Runs images (B, C, H, W) through the network. Writes (B, classes) logits when the model
    /// has a head and `logits` is given; the pooled features stay in `ws.features`.
    /// `trace` sees the residual stream at the points the golden fixtures record.
    public func forward(_ ws: Workspace, input: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>?,
                        scan: ScanKernel = .fast,
                        trace: ((String, UnsafeBufferPointer<Float>) -> Void)? = nil) {
        let a = architecture
        let (b, d, s) = (ws.batch, a.embedDim, ws.sequence)
        let rows = b * s
        let profile = ws.profile
        profile.measure(.patchEmbed) {
            embed(ws, input: input)
            ws.residual.update(from: ws.hidden, count: rows * d)
        }
        trace?("embed", UnsafeBufferPointer(start: ws.hidden, count: rows * d))
        // With at least one image per thread, each image runs through every block on one
        // thread: its activations (about 2 MB for FastVim-T at 224) stay in cache, where a
        // stage over the whole batch streams them through memory, and no thread waits for
        // another until the pass ends. The backend check and the trace read whole buffers
        // between stages, so they keep the split within images.
        let slices = profile?.observer == nil && trace == nil ? ws.imageSlices(threads: Parallel.width) : nil
        // Long sequences run tiled, and each block's tiles add their output to the residual
        // stream and norm it for the next block while the rows are in cache: no separate norm
        // passes or transposes. A profiled or traced pass keeps every stage apart.
        let fused = profile == nil && trace == nil && ws.tiles
        // Untiled, a plain pass folds the odd FastVim blocks' transposes into the norms
        // (`addNorm`); a profiled or traced pass keeps them apart.
        let folded = profile == nil && trace == nil && !fused
        precondition(fused || !ws.isTiledOnly, "a profiled or traced pass needs a workspace made with untiledBuffers")
        if let slices {
            // A profiled pass records thread 0's images, the ones it gets below (every thread
            // does the same work on its own); an unprofiled pass records nothing.
            for (k, image) in slices.images.enumerated() { image.profile = k % slices.threads == 0 ? profile : nil }
            slices.rest?.profile = profile
            if profile != nil {
                // A fixed share per thread, so that one thread's records are one thread's time.
                Parallel.forEach(slices.threads) { t in
                    for k in stride(from: t, to: slices.images.count, by: slices.threads) { self.blocks(slices.images[k], scan: scan, fused: fused, folded: folded) }
                }
            } else {
                // One task per image, handed out as threads free up: a thread slowed by other
                // work (a server's decoding) takes fewer images instead of holding up the rest.
                Parallel.handOut(slices.images.count) { self.blocks(slices.images[$0], scan: scan, fused: fused, folded: folded) }
            }
            if let rest = slices.rest { blocks(rest, scan: scan, fused: fused, folded: folded) }
        } else {
            for (i, block) in weights.blocks.enumerated() {
                self.block(i, block, ws, scan: scan, fused: fused, folded: folded)
                if let trace {
                    trace("block\(i).mixer_out", UnsafeBufferPointer(start: ws.hidden, count: rows * d))
                    trace("block\(i).residual", UnsafeBufferPointer(start: ws.residual, count: rows * d))
                }
            }
        }
        if !fused {
            let last = weights.blocks.count - 1
            let hidden = folded && isTransposed(last) ? (UnsafePointer(ws.permuted), gridView(ws)) : nil
            profile.measure(.norms) { addNorm(ws, weight: weights.normF, add: true, hidden: hidden) }
        }
        profile.measure(.head) { pool(ws) }
        trace?("features", UnsafeBufferPointer(start: ws.features, count: b * d))
        if let logits, let head = weights.headWeight, let bias = weights.headBias {
            profile.measure(.head) {
                for i in 0 ..< b { (logits + i * a.numClasses).update(from: bias, count: a.numClasses) }
                gemmNT(logits, ldOut: a.numClasses, ws.features, lda: d, head, ldb: d, m: b, n: a.numClasses, k: d, accumulate: true)
            }
        }
        profile?.finishPass()
    }

    /// Convenience for tests and the CLI: logits of a (B, C, H, W) batch as a flat array.
    public func logits(input: [Float], batch: Int, height: Int, width: Int, scan: ScanKernel = .fast) throws(CheckpointError) -> [Float] {
        guard architecture.numClasses > 0 else { throw .missingKey("head.weight (this checkpoint is an encoder without a classification head)") }
        guard input.count == batch * architecture.inChannels * height * width else {
            throw .invalidConfig("input holds \(input.count) values, expected \(batch)x\(architecture.inChannels)x\(height)x\(width)")
        }
        let ws = try makeWorkspace(batch: batch, height: height, width: width)
        var out = [Float](repeating: 0, count: batch * architecture.numClasses)
        input.withUnsafeBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { forward(ws, input: inp.baseAddress!, logits: $0.baseAddress!, scan: scan) }
        }
        return out
    }

    // MARK: - Stages

    /// Every block, in order.
    private func blocks(_ ws: Workspace, scan: ScanKernel, fused: Bool, folded: Bool) {
        for (i, block) in weights.blocks.enumerated() { self.block(i, block, ws, scan: scan, fused: fused, folded: folded) }
    }

    /// Whether block `index` sees the grid column-major: odd FastVim blocks.
    private func isTransposed(_ index: Int) -> Bool { architecture.pools && index % 2 == 1 }

    /// Where a transposed block's tokens sit in the stream (`TransposedView`): Channel-First
    /// channel models keep a position's channel tokens together.
    private func gridView(_ ws: Workspace) -> TransposedView {
        let a = architecture
        let inner = a.perChannelTokens && a.scanOrder == .channelFirst ? a.channelTokens : 1
        return TransposedView(rows: ws.grid.rows, cols: ws.grid.cols, inner: inner)
    }

    /// Block `index`: residual add and norm, then the mixer over the block's view of the grid.
    /// `fused`: the previous block's tiles have normed this block's input already, and this
    /// block's tiles do the same for the next block (or the final norm).
    /// `folded`: untiled, the norm writes a transposed block's input in its view's order and
    /// reads a transposed block's output in that order, instead of two transposing copies
    /// around the mixer; the same values.
    private func block(_ index: Int, _ block: BlockWeights, _ ws: Workspace, scan: ScanKernel, fused: Bool, folded: Bool) {
        let a = architecture, s = ws.sequence
        let profile = ws.profile
        let transposed = isTransposed(index), view = gridView(ws)
        if !fused || index == 0 {
            let hidden = folded && index > 0 && isTransposed(index - 1) ? (UnsafePointer(ws.permuted), view) : nil
            let normed = folded && transposed ? (ws.permuted, view) : nil
            profile.measure(.norms) { addNorm(ws, weight: block.norm, add: index > 0, hidden: hidden, normed: normed) }
        }
        // The mixer's view of the grid: odd FastVim blocks see it column-major, (cols, rows).
        let (viewRows, viewCols) = transposed ? (ws.grid.cols, ws.grid.rows) : (ws.grid.rows, ws.grid.cols)
        // Pooled runs: a row of the view. Channel-First tokens interleave the channels, so a
        // run is every `interleave`-th token; Spatial-First keeps each channel's grid contiguous.
        // Vim scans every token: runs of one.
        let (groups, width, interleave) = a.pools ? (viewRows * a.channelTokens, viewCols, view.inner) : (s, 1, 1)
        if fused {
            let next = index + 1 < weights.blocks.count ? weights.blocks[index + 1].norm : weights.normF
            mixer(block, ws, input: ws.normed, output: .residual(norm: next, view: transposed ? view : nil), groups: groups, width: width,
                  interleave: interleave, scan: scan)
        } else if transposed && folded {
            mixer(block, ws, input: ws.permuted, output: .rows(ws.permuted), groups: groups, width: width, interleave: interleave, scan: scan)
        } else if transposed {
            profile.measure(.transpose) { permute(ws.permuted, ws.normed, ws: ws, toColumnMajor: true) }
            mixer(block, ws, input: ws.permuted, output: .rows(ws.permuted), groups: groups, width: width, interleave: interleave, scan: scan)
            profile.measure(.transpose) { permute(ws.hidden, ws.permuted, ws: ws, toColumnMajor: false) }
        } else {
            mixer(block, ws, input: ws.normed, output: .rows(ws.hidden), groups: groups, width: width, interleave: interleave, scan: scan)
        }
    }

    /// residual += hidden (unless `add` is false), normed = RMSNorm(residual), split over rows.
    /// `hidden` / `normed`: read the hidden rows from / write the normed rows to other
    /// buffers (default `ws.hidden`, `ws.normed`), in a transposed view's order when given
    /// one (row v of each image is stream token `view.stored(v)`).
    func addNorm(_ ws: Workspace, weight: UnsafePointer<Float>, add: Bool,
                 hidden: (UnsafePointer<Float>, TransposedView)? = nil, normed: (UnsafeMutablePointer<Float>, TransposedView)? = nil) {
        let d = architecture.embedDim, s = ws.sequence
        if let view = hidden?.1 ?? normed?.1 {
            Parallel.ranges(ws.batch * s, grain: 16) { r in
                for v in r {
                    let (image, k) = v.quotientAndRemainder(dividingBy: s)
                    let t = image * s + view.stored(k)
                    let from = hidden.map { $0.0 + v * d } ?? UnsafePointer(ws.hidden + t * d)
                    let to = normed.map { $0.0 + v * d } ?? ws.normed + t * d
                    if add {
                        addRMSNorm(to, residual: ws.residual + t * d, hidden: from, weight: weight, rows: 1, d: d)
                    } else {
                        rmsNorm(to, ws.residual + t * d, weight: weight, rows: 1, d: d)
                    }
                }
            }
            return
        }
        Parallel.ranges(ws.batch * ws.sequence, grain: 16) { r in
            let off = r.lowerBound * d
            if add {
                addRMSNorm(ws.normed + off, residual: ws.residual + off, hidden: ws.hidden + off, weight: weight, rows: r.count, d: d)
            } else {
                rmsNorm(ws.normed + off, ws.residual + off, weight: weight, rows: r.count, d: d)
            }
        }
    }

    private func fitPositionEmbedding(into ws: Workspace) throws(CheckpointError) {
        try fitPositionEmbedding(into: ws.posEmbed, grid: ws.grid, tokens: ws.tokens, sequence: ws.sequence, masked: ws.isMasked)
    }

    /// The position embedding fitted to the grid of a height x width input, one row per
    /// token of the sequence (class token included): what a device backend uploads.
    public func positionEmbedding(height: Int, width: Int) throws(CheckpointError) -> [Float] {
        let layout = TokenLayout(architecture, height: height, width: width)
        var out = [Float](repeating: 0, count: layout.sequence * architecture.embedDim)
        var failure: CheckpointError?
        out.withUnsafeMutableBufferPointer { p in
            do throws(CheckpointError) {
                try fitPositionEmbedding(into: p.baseAddress!, grid: layout.grid, tokens: layout.tokens, sequence: layout.sequence, masked: false)
            } catch { failure = error }
        }
        if let failure { throw failure }
        return out
    }

    private func fitPositionEmbedding(into posEmbed: UnsafeMutablePointer<Float>, grid: Grid, tokens: Int, sequence: Int,
                                      masked: Bool) throws(CheckpointError) {
        let a = architecture, d = a.embedDim
        let trained = try a.trainedGrid(for: grid)
        let clsRow = a.hasClassToken && !a.perChannelTokens ? trained.count / 2 : -1
        // Split the class-token row (Vim) from the grid rows, resize the grid part, put it back at the middle.
        var gridPart = [Float](repeating: 0, count: trained.count * d)
        var k = 0
        for row in 0 ..< a.positionTokens where row != clsRow {
            for c in 0 ..< d { gridPart[c * trained.count + k] = weights.posEmbed[row * d + c] }
            k += 1
        }
        var fitted = [Float](repeating: 0, count: grid.count * d)
        if trained == grid {
            fitted = gridPart
        } else {
            bicubicResize(&fitted, gridPart, channels: d, inHeight: trained.rows, inWidth: trained.cols,
                          outHeight: grid.rows, outWidth: grid.cols)
        }
        let newCls = a.hasClassToken && !masked ? tokens / 2 : -1
        var token = 0
        let positions = grid.count
        // A masked encoder embeds the whole grid before choosing the kept tokens.
        let rows = masked ? positions * a.channelTokens : sequence
        for row in 0 ..< rows {
            let dst = posEmbed + row * d
            if row == newCls {
                // ChannelVim adds no position embedding to its class token.
                if a.perChannelTokens { dst.update(repeating: 0, count: d) } else { dst.update(from: weights.posEmbed + clsRow * d, count: d) }
                continue
            }
            // Channel models share one row per grid position across the channels:
            // repeated per channel (Channel-First) or tiled per channel (Spatial-First).
            let position = !a.perChannelTokens ? token
                : a.scanOrder == .channelFirst ? token / a.channelTokens : token % positions
            for c in 0 ..< d { dst[c] = fitted[c * positions + position] }
            token += 1
        }
    }

    /// Patch embedding (im2col + GEMM), bias, channel embedding (channel models), class
    /// token in the middle (Vim, ChannelVim), position embedding.
    func embed(_ ws: Workspace, input: UnsafePointer<Float>) {
        let a = architecture, d = a.embedDim, positions = ws.grid.count, l = ws.grid.count * a.channelTokens
        let kernelChannels = a.kernelChannels
        let patchLength = kernelChannels * a.patchSize * a.patchSize
        let plane = ws.height * ws.width
        // One im2col per image, or per image and channel for channel models: patches in
        // (image, channel, row, col) order.
        let planes = ws.batch * a.channelTokens
        Parallel.forEach(planes) { i in
            im2col(ws.columns + i * positions * patchLength, image: input + i * kernelChannels * plane, channels: kernelChannels,
                   height: ws.height, width: ws.width, patch: a.patchSize, stride: a.stride,
                   rows: ws.grid.rows, columns: ws.grid.cols)
        }
        gemmNN(ws.patches, ldOut: d, ws.columns, lda: patchLength, weights.patchWeightT, ldb: d,
               m: ws.batch * l, n: d, k: patchLength)
        let middle = a.hasClassToken ? l / 2 : -1
        let channels = a.channelTokens
        let channelFirst = a.scanOrder == .channelFirst
        let (bias, cls, channelEmbed) = (weights.patchBias, weights.clsToken, weights.channelEmbed)
        // One task per image: a scalar loop on one thread was a tenth of the stage at 224 px.
        Parallel.forEach(ws.batch) { i in
            for t in 0 ..< ws.sequence {
                let dst = ws.hidden + (i * ws.sequence + t) * d
                let pos = ws.posEmbed + t * d
                if t == middle {
                    addRows(dst, cls!, pos, count: d)
                    continue
                }
                let k = middle >= 0 && t > middle ? t - 1 : t
                guard let channelEmbed else {
                    addRows(dst, ws.patches + (i * l + k) * d, bias, pos, count: d)
                    continue
                }
                let (position, channel) = channelFirst ? (k / channels, k % channels) : (k % positions, k / positions)
                let src = ws.patches + ((i * channels + channel) * positions + position) * d
                addRows(dst, src, bias, channelEmbed + channel * d, pos, count: d)
            }
        }
    }

    /// Transposes the grid of every image: tokens (outer, r, c, inner) <-> (outer, c, r, inner),
    /// where channel models put their channels inner (Channel-First) or outer (Spatial-First).
    private func permute(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, ws: Workspace, toColumnMajor: Bool) {
        let a = architecture
        let (rows, cols, d) = (ws.grid.rows, ws.grid.cols, a.embedDim)
        let inner = gridView(ws).inner
        let outer = a.channelTokens / inner
        let run = inner * d
        for i in 0 ..< ws.batch {
            for o in 0 ..< outer {
                let base = (i * ws.sequence + o * rows * cols * inner) * d
                for r in 0 ..< rows {
                    for c in 0 ..< cols {
                        let rowMajor = base + (r * cols + c) * run, colMajor = base + (c * rows + r) * run
                        if toColumnMajor {
                            (out + colMajor).update(from: x + rowMajor, count: run)
                        } else {
                            (out + rowMajor).update(from: x + colMajor, count: run)
                        }
                    }
                }
            }
        }
    }

    /// Final features: FastVim averages every token, Vim takes the class token.
    private func pool(_ ws: Workspace) {
        let a = architecture, d = a.embedDim, s = ws.sequence
        for i in 0 ..< ws.batch {
            let f = ws.features + i * d
            if a.hasClassToken {
                f.update(from: ws.normed + (i * s + ws.tokens / 2) * d, count: d)
                continue
            }
            f.update(repeating: 0, count: d)
            for t in 0 ..< s {
                let row = ws.normed + (i * s + t) * d
                for c in 0 ..< d { f[c] += row[c] }
            }
            let inv = 1 / Float(s)
            for c in 0 ..< d { f[c] *= inv }
        }
    }
}
