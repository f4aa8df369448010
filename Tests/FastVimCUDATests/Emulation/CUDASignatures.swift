import FastVimCUDA

/// The functions of a `.cu` file, read off its text: each `extern "C" __global__` kernel's
/// parameter kinds (what the emulation's trampolines and the fake driver's table need, and
/// what `KernelSignatureTests` holds the typed `KernelCall` functions to), and which
/// functions synchronise threads (barriers or warp shuffles, directly or through a
/// `__device__` helper they call), which the emulation must run as fibers.
struct CUDASignatures {
    enum Parameter: String, Equatable, CustomStringConvertible {
        case pointer, int32, int64, float
        var description: String { rawValue }
    }

    struct Function {
        let name: String
        let isKernel: Bool
        let parameters: [Parameter]
        /// Its text, from its declaration to the next function's.
        let body: String
    }

    let functions: [Function]

    init(_ file: KernelFile) { self.init(source: file.source) }

    init(source: String) {
        var found: [(name: String, isKernel: Bool, parameters: [Parameter], start: String.Index)] = []
        for marker in ["extern \"C\" __global__ void ", "__device__ __forceinline__ float "] {
            var from = source.startIndex
            while let at = source.range(of: marker, range: from ..< source.endIndex) {
                from = at.upperBound
                guard let open = source[at.upperBound...].firstIndex(of: "("),
                      let close = source[open...].firstIndex(of: ")") else { continue }
                let name = String(source[at.upperBound ..< open])
                let list = source[source.index(after: open) ..< close].split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
                found.append((name, marker.contains("__global__"), list.map(Self.kind), at.lowerBound))
            }
        }
        found.sort { $0.start < $1.start }
        functions = found.enumerated().map { i, f in
            let end = i + 1 < found.count ? found[i + 1].start : source.endIndex
            return Function(name: f.name, isKernel: f.isKernel, parameters: f.parameters, body: String(source[f.start ..< end]))
        }
    }

    var kernels: [Function] { functions.filter(\.isKernel) }

    func kernel(_ name: String) -> Function? { kernels.first { $0.name == name } }

    /// Functions that reach `__syncthreads` or a warp shuffle, directly or through calls.
    var synchronising: Set<String> {
        var set = Set(functions.filter { $0.body.contains("__syncthreads") || $0.body.contains("__shfl") }.map(\.name))
        var grew = true
        while grew {
            grew = false
            for f in functions where !set.contains(f.name) && set.contains(where: { f.body.contains($0 + "(") }) {
                set.insert(f.name)
                grew = true
            }
        }
        return set
    }

    /// `float* out` -> pointer, `int n` -> int32, `long rows` -> int64, `float eps` -> float.
    static func kind(_ declaration: String) -> Parameter {
        if declaration.contains("*") { return .pointer }
        let type = declaration.split(separator: " ").dropLast().filter { $0 != "const" && $0 != "unsigned" }
        switch type.last {
        case "int": return .int32
        case "long": return .int64
        case "float": return .float
        default: preconditionFailure("parameter `\(declaration)`: a type the kernel launches do not pass")
        }
    }
}

extension KernelArgument {
    var kind: CUDASignatures.Parameter {
        switch self {
        case .pointer: .pointer
        case .int32: .int32
        case .int64: .int64
        case .float: .float
        }
    }
}
