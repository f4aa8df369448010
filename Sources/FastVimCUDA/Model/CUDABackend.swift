import FastVimEngine

/// The CUDA backend: the forward pass over a `CUDADevice` (driver API, NVRTC-compiled
/// kernels from the on-disk cache, cuBLAS on one stream).
public enum CUDABackend {
    /// Opens `cuda` or `cuda:N`, compiling (or loading from the cache) every kernel for its
    /// architecture. Fails with an error naming what is missing: driver, GPU, NVRTC, cuBLAS.
    public static func open(device spec: String, libraryDirectory: String? = nil, precision: GemmPrecision = .fp32,
                            cacheDirectory: String? = nil) throws -> KernelBackend {
        let device = try CUDADevice(spec: spec, libraryDirectories: CUDALibraryPath.directories(explicit: libraryDirectory),
                                    precision: precision, cache: KernelCache(directory: cacheDirectory))
        return KernelBackend(name: "cuda:\(device.gpu.ordinal)", device: device)
    }
}
