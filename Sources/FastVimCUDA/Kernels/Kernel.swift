/// One `.cu` file of this directory: a family of kernels NVRTC compiles as one program (one
/// PTX module). The files are compiled into the binary (SwiftPM `embedInCode`), so building
/// needs no CUDA toolkit, and the PTX cache keys on their text.
public enum KernelFile: String, CaseIterable, Sendable {
    case embedding, norm, layout, conv, scan, combine, elementwise

    public var fileName: String { rawValue + ".cu" }

    public var source: String { String(decoding: bytes, as: UTF8.self) }

    private var bytes: [UInt8] {
        switch self {
        case .embedding: PackageResources.embedding_cu
        case .norm: PackageResources.norm_cu
        case .layout: PackageResources.layout_cu
        case .conv: PackageResources.conv_cu
        case .scan: PackageResources.scan_cu
        case .combine: PackageResources.combine_cu
        case .elementwise: PackageResources.elementwise_cu
        }
    }

    /// The kernels this file defines.
    public var kernels: [Kernel] { Kernel.allCases.filter { $0.file == self } }

    public var program: KernelProgram { KernelProgram(name: fileName, source: source, kernels: kernels.map(\.name)) }
}

/// What NVRTC compiles as one program and the PTX cache keys on: a file's name, its text, and
/// the kernels its PTX must define.
public struct KernelProgram: Sendable, Equatable {
    public let name: String
    public let source: String
    public let kernels: [String]

    public init(name: String, source: String, kernels: [String]) {
        (self.name, self.source, self.kernels) = (name, source, kernels)
    }
}

/// Every kernel of the `.cu` files, by its `extern "C"` name. Launches go through the typed
/// functions of `KernelCall` (one per kernel, labelled as the `.cu` parameters are); a test
/// holds their argument lists equal to the `.cu` signatures.
public enum Kernel: String, CaseIterable, Sendable {
    case im2col = "fv_im2col"
    case embedAssemble = "fv_embed_assemble"
    case gatherKept = "fv_gather_kept"
    case addRMSNorm = "fv_add_rmsnorm"
    case gridTranspose = "fv_grid_transpose"
    case permuteTokens = "fv_permute_tokens"
    case convSiLUPool = "fv_conv_silu_pool"
    case maskedPool = "fv_masked_pool"
    case selectiveScan = "fv_selective_scan"
    case scanChunkStates = "fv_scan_chunk_states"
    case scanChunkCarry = "fv_scan_chunk_carry"
    case selectiveScanChunked = "fv_selective_scan_chunked"
    case combineNormGate = "fv_combine_norm_gate"
    case softplusBias = "fv_softplus_bias"
    case addRowBias = "fv_add_row_bias"
    case meanTokens = "fv_mean_tokens"
    case toBF16 = "fv_to_bf16"

    public var name: String { rawValue }

    public var file: KernelFile {
        switch self {
        case .im2col, .embedAssemble, .gatherKept: .embedding
        case .addRMSNorm: .norm
        case .gridTranspose, .permuteTokens: .layout
        case .convSiLUPool, .maskedPool: .conv
        case .selectiveScan, .scanChunkStates, .scanChunkCarry, .selectiveScanChunked: .scan
        case .combineNormGate: .combine
        case .softplusBias, .addRowBias, .meanTokens, .toBF16: .elementwise
        }
    }
}

/// The largest `d_state` the scan kernels hold: 32 lanes of `FV_STATES_PER_LANE` (8) states
/// (scan.cu). Every state size Mamba checkpoints use (16 to 256) fits.
public enum ScanLimits {
    public static let statesPerLane = 8
    public static let maxStateDim = 32 * statesPerLane

    /// Threads per channel: one per state up to a warp (the smallest power of two >= n, at
    /// most 32), so a batch keeps as many threads busy as it has states.
    public static func lanes(stateDim n: Int) -> Int {
        var lanes = 1
        while lanes < min(max(n, 1), 32) { lanes *= 2 }
        return lanes
    }
}
