/// Analytic FLOPs, counted as the paper does: one multiply-add is one FLOP, the selective
/// scan 9·L·E·N per direction (L its number of steps), elementwise work and norms ignored.
/// FastVim-T at 224 comes to 1.14 G and Vim-T to 1.82 G (the paper: about 1.17 G and 1.8 G).
extension Architecture {
    public struct FLOPs: Sendable, Codable {
        public var patchEmbed: Double
        public var inProj: Double
        public var conv: Double
        public var paramProjection: Double
        public var scan: Double
        public var outProj: Double
        public var head: Double

        public var total: Double { patchEmbed + inProj + conv + paramProjection + scan + outProj + head }
    }

    /// Per image, for an input of this size.
    public func flops(height: Int, width: Int) -> FLOPs {
        let grid = Grid(height: height, width: width, patch: patchSize, stride: stride)
        let l = Double(grid.count * channelTokens)
        let s = l + (hasClassToken ? 1 : 0)
        // FastVim scans one pooled token per row (even blocks) or column (odd blocks), per channel.
        let steps: Double = pools
            ? Double((0 ..< depth).reduce(0) { $0 + ($1 % 2 == 0 ? grid.rows : grid.cols) * channelTokens }) / Double(depth)
            : s
        let (d, e, n, r, k) = (Double(embedDim), Double(innerDim), Double(stateDim), Double(dtRank), Double(convWidth))
        let layers = Double(depth)
        return FLOPs(
            patchEmbed: l * d * Double(kernelChannels * patchSize * patchSize),
            inProj: layers * s * d * 2 * e,
            conv: layers * 2 * s * e * k,
            paramProjection: layers * 2 * steps * (e * (r + 2 * n) + r * e),
            scan: layers * 2 * 9 * steps * e * n,
            outProj: layers * s * e * d,
            head: d * Double(numClasses)
        )
    }
}
