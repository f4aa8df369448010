@testable import FastVimCUDA
import Foundation
import Testing

/// The parts of the CUDA device that run without a GPU.
@Suite struct CUDADeviceHostTests {
    /// On a machine without the NVIDIA driver, opening the device names libcuda.
    @Test func missingDriverIsNamed() {
        guard (try? CUDADriver()) == nil else { return } // a GPU machine: nothing to check here
        let cache = KernelCache(directory: FileManager.default.temporaryDirectory.appendingPathComponent("fastvim-unused").path)
        #expect {
            _ = try CUDADevice(spec: "cuda", libraryDirectories: ["/nonexistent"], precision: .bf16, cache: cache)
        } throws: { error in
            let text = "\(error)"
            return text.contains("libcuda") && text.contains("FASTVIM_CUDA_LIBRARY_PATH")
        }
    }

    /// cuLaunchKernel reads each argument through its pointer with the size the kernel declares.
    @Test func argumentBlockHoldsEachValueAtItsSize() throws {
        let kernel = CUDAKernel.toBF16 // (unsigned short* out, const float* x, long rows, int cols, int ld)
        #expect(kernel.parameters == [.pointer, .pointer, .int64, .int32, .int32])
        let block = try KernelArgumentBlock(kernel, [.pointer(DevicePointer(address: 0x7f00_0000_1000)), .pointer(nil),
                                                     .long(5_000_000_000), .int(-7), .int(384)])
        #expect(block.count == 5)
        #expect(block.pointers[0]!.load(as: UInt64.self) == 0x7f00_0000_1000)
        #expect(block.pointers[1]!.load(as: UInt64.self) == 0)
        #expect(block.pointers[2]!.load(as: Int64.self) == 5_000_000_000)
        #expect(block.pointers[3]!.load(as: Int32.self) == -7)
        #expect(block.pointers[4]!.load(as: Int32.self) == 384)
        // Each value has its own 8-byte aligned slot.
        let addresses = (0 ..< 5).map { UInt(bitPattern: block.pointers[$0]) }
        #expect(addresses.allSatisfy { $0 % 8 == 0 } && Set(addresses).count == 5)

        let rmsnorm = CUDAKernel.named("fv_add_rmsnorm")! // (float*, float*, const float*, const float*, int, int, float)
        let floats = try KernelArgumentBlock(rmsnorm, [.pointer(nil), .pointer(nil), .pointer(nil), .pointer(nil), .int(192), .flag(true), .float(1e-5)])
        #expect(floats.pointers[5]!.load(as: Int32.self) == 1)
        #expect(floats.pointers[6]!.load(as: Float.self) == 1e-5)
    }

    @Test func argumentBlockRejectsWhatTheKernelDoesNotDeclare() {
        #expect(throws: CUDAError.self) { _ = try KernelArgumentBlock(CUDAKernel.toBF16, [.pointer(nil)]) }
        #expect {
            _ = try KernelArgumentBlock(CUDAKernel.toBF16, [.pointer(nil), .pointer(nil), .int(1), .int(1), .int(1)])
        } throws: { "\($0)".contains("argument 2 is int32, the kernel declares int64") }
    }

    @Test(arguments: ["sm_80", "sm_90"])
    func bf16ConversionCompiles(_ architecture: String) throws {
        let nvrtc = try NVRTC(directories: KernelCompilationTests.directories)
        for kernel in CUDAKernel.deviceInternal {
            let ptx = try nvrtc.compile(kernel.source, name: kernel.name + ".cu", architecture: architecture)
            #expect(ptx.contains(".entry \(kernel.name)("))
        }
        // Internal kernels stay out of the forward pass's list (the emulated device mirrors it).
        #expect(CUDAKernel.all.allSatisfy { k in !CUDAKernel.deviceInternal.contains { $0.name == k.name } })
    }

    /// A bf16 copy of a (rows, cols, ld) weight is stale when any byte it was read from changes.
    @Test func weightCopiesCoverTheBytesTheyRead() {
        let key = CUDADevice.WeightKey(address: 0x1000, rows: 3, cols: 4, ld: 10)
        #expect(key.bytes == 0x1000 ..< 0x1000 + UInt64((2 * 10 + 4) * 4))
        #expect(key.bytes.overlaps(0x1000 + 95 ..< 0x1000 + 96))
        #expect(!key.bytes.overlaps(0x1000 + 96 ..< 0x2000))
        #expect(!key.bytes.overlaps(0x0 ..< 0x1000))
    }
}
