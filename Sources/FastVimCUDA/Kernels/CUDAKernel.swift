/// One CUDA C kernel source, compiled at start-up by NVRTC for the GPU's architecture.
/// Layouts match the CPU engine: token-major activations, (T, D) and (T, 2E).
public struct CUDAKernel: Sendable {
    public let name: String
    public let source: String
    /// The parameter kinds of the `extern "C" __global__` signature, read off the source,
    /// so launches are checked against what the kernel really declares.
    public let parameters: [Parameter]

    public enum Parameter: String, Sendable, Equatable, CustomStringConvertible {
        case pointer, int32, int64, float
        public var description: String { rawValue }
    }

    init(name: String, source: String) {
        self.name = name
        self.source = source
        parameters = Self.parameters(of: name, in: source)
    }

    /// `float* out, const float* x, int n, long rows, float eps` -> [pointer, pointer, int32, int64, float].
    static func parameters(of name: String, in source: String) -> [Parameter] {
        guard let start = source.range(of: "void \(name)("),
              let end = source[start.upperBound...].firstIndex(of: ")") else {
            preconditionFailure("kernel \(name): no `void \(name)(...)` signature in its source")
        }
        let list = source[start.upperBound ..< end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        return list.filter { !$0.isEmpty }.map { declaration -> Parameter in
            if declaration.contains("*") { return .pointer }
            let type = declaration.split(separator: " ").dropLast().filter { $0 != "const" && $0 != "unsigned" }
            switch type.last {
            case "int": return .int32
            case "long": return .int64
            case "float": return .float
            default: preconditionFailure("kernel \(name): parameter `\(declaration)` has a type launches do not handle")
            }
        }
    }

    /// Every kernel of the FastVim/Vim forward pass, in the order a pass uses them.
    public static let all: [CUDAKernel] = [
        patchEmbedIm2col, embedAssemble, addRMSNorm, gridTranspose, convSiLUPool, softplusBias, selectiveScan, selectiveScanLanes,
        scanChunkStates, scanChunkCarry, selectiveScanChunked,
        combineNormGate, meanTokens, addRowBias, gatherKept, permuteTokens, maskedPool,
    ]

    public static func named(_ name: String) -> CUDAKernel? { all.first { $0.name == name } }
}
