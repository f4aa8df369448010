/// What each stage of one forward pass must compute and move, for the benchmark's roofline:
/// FLOPs (multiply-add = 1, as `flops(height:width:)`; elementwise passes count none) and the
/// bytes it reads and writes at least (each activation, weight and output once), summed over
/// the blocks. Stages follow `StageProfile.Stage`, as the profiled CPU pass runs them (its
/// pooling separate from the conv).
extension Architecture {
    public struct StageCost: Sendable, Codable, Equatable {
        public var flops: Double = 0
        public var bytes: Double = 0
    }

    public func stageCosts(batch: Int, height: Int, width: Int) -> [StageProfile.Stage: StageCost] {
        let layout = TokenLayout(self, height: height, width: width)
        let grid = layout.grid
        let b = Double(batch), l = Double(layout.embedded), s = Double(layout.sequence)
        let (d, e, n, r, k) = (Double(embedDim), Double(innerDim), Double(stateDim), Double(dtRank), Double(convWidth))
        let xw = r + 2 * n, t = b * s, kp = Double(kernelChannels * patchSize * patchSize), f = 4.0
        var costs: [StageProfile.Stage: StageCost] = [:]
        func add(_ stage: StageProfile.Stage, flops: Double = 0, floats: Double) {
            costs[stage, default: StageCost()].flops += flops
            costs[stage, default: StageCost()].bytes += floats * f
        }
        // im2col (image in, columns out), the patch GEMM, then assembly into the residual stream.
        add(.patchEmbed, flops: b * l * d * kp, floats: b * Double(inChannels * height * width) + 2 * b * l * kp + d * kp + b * l * d
            + b * l * d + s * d + 2 * t * d)
        for block in 0 ..< depth {
            // Steps the scans see: pooled rows/columns (FastVim), else every token.
            let groups = pools ? Double((block % 2 == 0 ? grid.rows : grid.cols) * channelTokens) : s
            let g = b * groups
            add(.norms, floats: 4 * t * d + d)
            if pools && block % 2 == 1 { add(.transpose, floats: 2 * 2 * t * d) }
            add(.inProj, flops: t * d * 2 * e, floats: t * d + 2 * e * d + 2 * t * e)
            add(.conv, flops: 2 * t * e * k, floats: 2 * t * e + 2 * t * e + 2 * e * (k + 1))
            if pools { add(.pool, floats: 2 * t * e + 2 * g * e) }
            add(.paramProjection, flops: 2 * g * (e * xw + r * e), floats: 2 * (g * e + xw * e + g * xw + r * e + g * e + e))
            add(.scan, flops: 2 * 9 * g * e * n, floats: 2 * (2 * g * e + 2 * g * n + e * n + g * e))
            add(.combine, floats: 2 * g * e + 2 * t * e + t * e + t * e + 4 * e)
            add(.outProj, flops: t * e * d, floats: t * e + d * e + t * d)
        }
        add(.norms, floats: 4 * t * d + d)
        add(.head, flops: b * d * Double(numClasses), floats: t * d + b * d + Double(numClasses) * (d + 1) + b * Double(numClasses))
        return costs
    }
}
