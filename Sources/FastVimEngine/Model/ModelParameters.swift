/// A model's parameters as host buffers in the layouts the engine's kernels read (conv
/// weights as (K, E), A = -exp(A_log) as (E, N)), for a device backend to upload once.
/// The buffers belong to the model and live as long as it does.
public struct ModelParameters {
    public typealias Tensor = UnsafeBufferPointer<Float>

    public struct Direction {
        public let convT: Tensor      // (K, E)
        public let convBias: Tensor   // (E)
        public let xProj: Tensor      // (R + 2N, E)
        public let dtProj: Tensor     // (E, R)
        public let dtBias: Tensor     // (E)
        public let a: Tensor          // (E, N)
        public let skip: Tensor       // D, (E)
    }

    public struct Block {
        public let norm: Tensor       // (D)
        public let inProj: Tensor     // (2E, D)
        public let inProjBias: Tensor?
        public let forward: Direction
        public let backward: Direction
        public let outProj: Tensor    // (D, E)
        public let outProjBias: Tensor?
        public let layerNormWeight: Tensor?  // (E), absent for the original Vim
        public let layerNormBias: Tensor?
    }

    public let patchWeight: Tensor    // (D, C·p·p)
    public let patchBias: Tensor      // (D)
    public let classToken: Tensor?    // (D)
    public let channelEmbed: Tensor?  // (C, D), channel models
    public let normF: Tensor          // (D)
    public let headWeight: Tensor?    // (classes, D)
    public let headBias: Tensor?
    public let blocks: [Block]
}

extension VisionMamba {
    public var parameters: ModelParameters {
        let a = architecture, w = weights
        let (d, e, n, k) = (a.embedDim, a.innerDim, a.stateDim, a.convWidth)
        func t(_ p: UnsafePointer<Float>, _ count: Int) -> ModelParameters.Tensor { UnsafeBufferPointer(start: p, count: count) }
        func t(_ p: UnsafePointer<Float>?, _ count: Int) -> ModelParameters.Tensor? { p.map { UnsafeBufferPointer(start: $0, count: count) } }
        func direction(_ x: DirectionWeights) -> ModelParameters.Direction {
            .init(convT: t(x.convT, k * e), convBias: t(x.convBias, e), xProj: t(x.xProj, a.xProjWidth * e),
                  dtProj: t(x.dtProj, e * a.dtRank), dtBias: t(x.dtBias, e), a: t(x.a, e * n), skip: t(x.skip, e))
        }
        return ModelParameters(
            patchWeight: t(w.patchWeight, d * a.kernelChannels * a.patchSize * a.patchSize), patchBias: t(w.patchBias, d),
            classToken: t(w.clsToken, d), channelEmbed: t(w.channelEmbed, a.inChannels * d), normF: t(w.normF, d),
            headWeight: t(w.headWeight, a.numClasses * d), headBias: t(w.headBias, a.numClasses),
            blocks: w.blocks.map { b in
                .init(norm: t(b.norm, d), inProj: t(b.inProj, 2 * e * d), inProjBias: t(b.inProjBias, 2 * e),
                      forward: direction(b.forward), backward: direction(b.backward), outProj: t(b.outProj, d * e),
                      outProjBias: t(b.outProjBias, d), layerNormWeight: t(b.layerNormWeight, e), layerNormBias: t(b.layerNormBias, e))
            })
    }

    /// Width of x_proj's output, [dt | B | C]: R + 2N.
    public var parameterProjectionWidth: Int { architecture.xProjWidth }
}
