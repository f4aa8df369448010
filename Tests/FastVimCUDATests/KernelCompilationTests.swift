import FastVimCUDA
import Foundation
import Testing

/// Every kernel source compiles with NVRTC (no GPU needed). `make deps` installs NVRTC from
/// PyPI's nvidia-cuda-nvrtc wheel into .cache/nvrtc; FASTVIM_CUDA_LIBRARY_PATH points elsewhere.
@Suite struct KernelCompilationTests {
    static var directories: [String] {
        let cache = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".cache/nvrtc/nvidia/cuda_nvrtc/lib").path
        return [cache] + CUDALibraryPath.directories()
    }

    @Test(arguments: ["sm_80", "sm_90"])
    func everyKernelCompiles(_ architecture: String) throws {
        let nvrtc = try NVRTC(directories: Self.directories)
        #expect(nvrtc.version.major >= 11)
        for file in KernelFile.allCases {
            let ptx = try nvrtc.compile(file.source, name: file.fileName, architecture: architecture)
            for kernel in file.kernels {
                #expect(ptx.contains(".entry \(kernel.name)("), "\(file.fileName): no entry point \(kernel.name) in the PTX")
            }
        }
    }

    @Test func compilationErrorsCarryTheLog() throws {
        let nvrtc = try NVRTC(directories: Self.directories)
        #expect {
            try nvrtc.compile("extern \"C\" __global__ void broken(float* x) { x[0] = undefined_name; }", name: "broken.cu", architecture: "sm_90")
        } throws: { error in
            "\(error)".contains("undefined_name")
        }
    }

    @Test func missingLibrariesAreNamed() {
        #expect {
            _ = try DynamicLibrary(names: ["libdoes-not-exist.so.1"], directories: ["/nonexistent"], what: "the CUDA driver (libcuda)")
        } throws: { error in
            let text = "\(error)"
            return text.contains("the CUDA driver (libcuda) not found") && text.contains("FASTVIM_CUDA_LIBRARY_PATH")
        }
    }

    /// A library that is there but cannot load (here: not a shared object at all; on a GPU
    /// machine, say, a libstdc++ too old for cuBLAS) says why instead of "not found".
    @Test func unloadableLibrariesSayWhy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fastvim-broken-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: dir + "/libcublas.so.12"))
        #expect {
            _ = try DynamicLibrary(names: ["libcublas.so.12"], directories: [dir], what: "cuBLAS (libcublas)")
        } throws: { error in
            let text = "\(error)"
            return text.contains("cuBLAS (libcublas) is installed but does not load") && text.contains(dir + "/libcublas.so.12")
        }
    }

    /// On a machine without the NVIDIA driver (CI), the driver is named as missing.
    @Test func driverAbsenceIsExplained() {
        guard (try? CUDADriver()) == nil else { return } // a GPU machine: nothing to check here
        #expect {
            _ = try CUDADriver(directories: ["/nonexistent"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("libcuda") || text.contains("no GPU") || text.contains("cuInit")
        }
    }
}
