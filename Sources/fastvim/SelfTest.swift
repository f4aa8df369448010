import ArgumentParser
import FastVimCUDA
import Foundation

struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check a device backend. CUDA: --compile-only compiles every kernel with NVRTC (no GPU needed)."
    )

    @Option(help: "Device: cuda.")
    var device = "cuda"

    @Flag(name: .customLong("compile-only"), help: "Only compile the kernels (the GPU forward pass is not implemented yet).")
    var compileOnly = false

    @Option(help: "GPU architectures to compile for, comma-separated (e.g. sm_80,sm_90).")
    var arch = "sm_80,sm_90"

    @Option(name: .customLong("cuda-library-path"), help: "Directory holding libnvrtc (also FASTVIM_CUDA_LIBRARY_PATH).")
    var cudaLibraryPath: String?

    func run() throws {
        guard device == "cuda" || device.hasPrefix("cuda:") else { throw ValidationError("selftest knows the cuda device only") }
        guard compileOnly else {
            // Find the GPU first, so a machine without one or without the driver says so plainly.
            let driver = try CUDADriver(directories: CUDALibraryPath.directories(explicit: cudaLibraryPath))
            let gpu = try driver.device(device)
            print("\(device): \(gpu.name), \(gpu.architecture), driver \(driver.library.path)")
            throw ValidationError("the CUDA forward pass is not implemented yet: only --compile-only runs (try --arch \(gpu.architecture))")
        }
        let nvrtc = try NVRTC(directories: CUDALibraryPath.directories(explicit: cudaLibraryPath))
        print("NVRTC \(nvrtc.version.major).\(nvrtc.version.minor) from \(nvrtc.library.path)")
        // Through the PTX cache the server uses: a hit is PTX this NVRTC made from this source.
        let cache = KernelCache()
        print("PTX cache: \(cache.directory ?? "none")")
        var failures = 0
        for architecture in arch.split(separator: ",").map(String.init) {
            for kernel in CUDAKernel.all + CUDAKernel.deviceInternal {
                do {
                    let (ptx, cached) = try cache.ptx(for: kernel, architecture: architecture, nvrtc: nvrtc)
                    print("ok    \(architecture) \(kernel.name) (\(ptx.utf8.count) bytes of PTX, \(cached ? "cached" : "compiled"))")
                } catch {
                    failures += 1
                    print("FAIL  \(architecture) \(kernel.name): \(error)")
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
