@testable import FastVimCUDA
import Testing

/// The ABI the host code binds to, checked against NVIDIA's headers without a GPU: a wrong
/// symbol or enum value only shows on a GPU, as garbage or a crash rather than an error.
/// Sources: cuda.h, cudaTypedefs.h, cublas_api.h, cublas_v2.h, library_types.h of CUDA
/// 12.6.3 (github.com/zspace/system.cuda-12.6, include/) and of CUDA 13.0
/// (github.com/leomaxwell972/CU13ToolKit_Includes, include/).
@Suite struct CUDABindingTests {
    /// What cuda.h binds each name the device calls to, in both 12.6 and 13.0 (`#define
    /// cuMemAlloc cuMemAlloc_v2`, ...; the per-thread-stream `_ptsz` variants are not used).
    /// The unversioned exports of the `_v2` functions are older ABIs: cuMemAlloc takes a
    /// 32-bit size, cuGraphInstantiate an error node and a log buffer.
    static let boundNames = [
        "cuGetErrorName", "cuGetErrorString", "cuDriverGetVersion", "cuDeviceGet", "cuDevicePrimaryCtxRetain",
        "cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuStreamCreate", "cuStreamDestroy_v2", "cuStreamSynchronize",
        "cuModuleLoadData", "cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel", "cuMemAlloc_v2", "cuMemFree_v2",
        "cuMemGetInfo_v2", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemHostAlloc", "cuMemFreeHost", "cuEventCreate",
        "cuEventRecord", "cuEventSynchronize", "cuEventElapsedTime_v2", "cuEventDestroy_v2", "cuStreamBeginCapture_v2",
        "cuStreamEndCapture", "cuGraphInstantiateWithFlags", "cuGraphLaunch", "cuGraphExecDestroy", "cuGraphDestroy",
    ]

    /// Resolves every name to a distinct fake address (never called) unless it is `missing`.
    final class Lookup {
        var asked: [String] = []
        let missing: Set<String>
        init(missing: Set<String> = []) { self.missing = missing }

        func callAsFunction(_ name: String) -> UnsafeMutableRawPointer? {
            asked.append(name)
            return missing.contains(name) ? nil : UnsafeMutableRawPointer(bitPattern: 0x1000 * asked.count)
        }
    }

    @Test func driverEntryPointsAreTheOnesCudaHBindsTo() throws {
        let lookup = Lookup()
        _ = try DriverAPI(library: "libcuda.so.1", lookup: lookup.callAsFunction)
        #expect(lookup.asked == Self.boundNames)
    }

    /// A driver older than CUDA 12.8 has no cuEventElapsedTime_v2, one older than 11 no
    /// cuDevicePrimaryCtxRelease_v2: both have the same signature as the unversioned export.
    @Test func olderDriversFallBackToTheUnversionedExport() throws {
        let lookup = Lookup(missing: ["cuEventElapsedTime_v2", "cuDevicePrimaryCtxRelease_v2"])
        _ = try DriverAPI(library: "libcuda.so.1", lookup: lookup.callAsFunction)
        #expect(lookup.asked.contains("cuEventElapsedTime") && lookup.asked.contains("cuDevicePrimaryCtxRelease"))
        // Functions whose unversioned export has another ABI have no fallback.
        let noV2 = Lookup(missing: ["cuMemAlloc_v2"])
        #expect(throws: CUDAError.symbolNotFound("cuMemAlloc_v2", library: "libcuda.so.1")) {
            _ = try DriverAPI(library: "libcuda.so.1", lookup: noV2.callAsFunction)
        }
        #expect(!noV2.asked.contains("cuMemAlloc"))
    }

    @Test func enumValuesMatchTheHeaders() {
        // cuda.h: CUdevice_attribute, CUstream_flags, CUevent_flags, CUstreamCaptureMode, cudaError_enum.
        #expect(CUDADriver.capabilityMajor == 75 && CUDADriver.capabilityMinor == 76)
        #expect(DriverAPI.streamNonBlocking == 0x1)
        #expect(DriverAPI.eventDefault == 0x0 && DriverAPI.eventDisableTiming == 0x2)
        #expect(DriverAPI.captureModeRelaxed == 2)
        #expect(DriverAPI.unsupportedPTXVersion == 222)
        // CU_MEMHOSTALLOC_PORTABLE 0x01, DEVICEMAP 0x02, WRITECOMBINED 0x04: none of them.
        #expect(DriverAPI.hostAllocDefault == 0)
        // cublas_api.h: cublasMath_t, cublasComputeType_t, cublasGemmAlgo_t; library_types.h: cudaDataType.
        #expect(CUBLAS.opN == 0 && CUBLAS.opT == 1)
        #expect(CUBLAS.defaultMath == 0 && CUBLAS.tf32TensorOpMath == 3)
        #expect(CUBLAS.compute32F == 68 && CUBLAS.gemmDefault == -1)
        #expect(CUBLAS.fp32 == 0 && CUBLAS.bf16 == 14)
    }

    /// The fallback for an NVRTC newer than the driver: machine code for the GPU, an ELF
    /// of machine EM_CUDA (190), with the kernel's symbol in it.
    @Test(arguments: ["sm_80", "sm_90"])
    func cubinIsMachineCodeForTheGPU(_ architecture: String) throws {
        let nvrtc = try NVRTC(directories: KernelCompilationTests.directories)
        let file = KernelFile.elementwise
        let elf = try nvrtc.compileCUBIN(file.source, name: file.fileName, architecture: architecture)
        #expect(elf.starts(with: [0x7f, 0x45, 0x4c, 0x46]))
        #expect(elf.count > 20 && UInt16(elf[18]) | UInt16(elf[19]) << 8 == 190)
        let text = String(decoding: elf.map { $0 == 0 ? 10 : $0 }, as: UTF8.self)
        for kernel in file.kernels { #expect(text.contains(kernel.name)) }
    }
}
