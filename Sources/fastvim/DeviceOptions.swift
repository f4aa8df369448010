import ArgumentParser
import FastVimCUDA
import FastVimEngine

extension GemmPrecision: ExpressibleByArgument {}
extension GemmLibrary: ExpressibleByArgument {}

/// Where forward passes run, shared by every command that runs a model.
struct DeviceOptions: ParsableArguments {
    @Option(help: "cpu, or cuda / cuda:N for an NVIDIA GPU (the CUDA driver, NVRTC and cuBLAS are opened at run time).")
    var device = "cpu"

    @Option(name: .customLong("cuda-library-path"), help: "Directory (or colon-separated directories) holding libcuda/libnvrtc/libcublas, searched first (also FASTVIM_CUDA_LIBRARY_PATH).")
    var cudaLibraryPath: String?

    @Option(help: "GEMM arithmetic on a GPU: fp32 (default, as the paper measured), tf32 or bf16 (see docs/BENCHMARKS.md for their accuracy cost).")
    var precision: GemmPrecision = .fp32

    @Option(name: .customLong("kernel-cache"), help: "Directory caching the compiled kernels per GPU architecture (default: FASTVIM_CUDA_CACHE or ~/.cache/fastvim/cuda).")
    var kernelCache: String?

    @Option(name: .customLong("tile-tokens"), help: "CPU: tokens per tile when the mixer cuts a long sequence into tiles, which it does once a block's in_proj output per image passes 4 MiB (0: never tile; default \(TokenTiling.defaultTarget)).")
    var tileTokens: Int?

    @Option(name: .customLong("gemm-library"), help: "CPU: the library behind the engine's sgemm: onednn (default) or openblas (docs/BENCHMARKS.md compares them).")
    var gemmLibrary: GemmLibrary?

    init() {}

    var isCUDA: Bool { device == "cuda" || device.hasPrefix("cuda:") }

    func validate() throws {
        guard device == "cpu" || isCUDA else { throw ValidationError("--device is cpu, cuda or cuda:N, not \(device)") }
        if let tileTokens, tileTokens < 0 { throw ValidationError("--tile-tokens is 0 (untiled) or a positive number of tokens, not \(tileTokens)") }
        if isCUDA && tileTokens != nil { throw ValidationError("--tile-tokens applies to the CPU only") }
        if isCUDA && gemmLibrary != nil { throw ValidationError("--gemm-library applies to the CPU only (a GPU runs cuBLAS)") }
        if !isCUDA && precision != .fp32 { throw ValidationError("--precision \(precision.rawValue) needs --device cuda: the CPU computes in fp32") }
    }

    /// The backend the options name; a GPU is opened (and its kernels compiled) here.
    func backend() throws -> any ComputeBackend {
        try validate()
        guard isCUDA else {
            if let gemmLibrary { GemmLibrary.select(gemmLibrary) }
            guard let tileTokens else { return CPUBackend.shared }
            return CPUBackend(tiling: tileTokens == 0 ? nil : TokenTiling(target: tileTokens))
        }
        return try CUDABackend.open(device: device, libraryDirectory: cudaLibraryPath, precision: precision,
                                    cacheDirectory: kernelCache)
    }
}
