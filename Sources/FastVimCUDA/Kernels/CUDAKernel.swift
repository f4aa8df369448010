/// One CUDA C kernel source, compiled at start-up by NVRTC for the GPU's architecture.
/// Layouts match the CPU engine: token-major activations, (T, D) and (T, 2E).
public struct CUDAKernel: Sendable {
    public let name: String
    public let source: String

    /// Every kernel of the FastVim/Vim forward pass, in the order a pass uses them.
    public static let all: [CUDAKernel] = [
        patchEmbedIm2col, embedAssemble, addRMSNorm, gridTranspose, convSiLUPool, softplusBias, selectiveScan,
        combineNormGate, meanTokens,
    ]
}
