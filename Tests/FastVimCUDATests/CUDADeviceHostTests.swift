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
        let call = KernelCall.toBF16(out: DevicePointer(address: 0x7f00_0000_1000), x: DevicePointer(address: 0), rows: 5_000_000_000,
                                     cols: -7, ld: 384)
        let block = KernelArgumentBlock(call.arguments)
        #expect(block.count == 5)
        #expect(block.pointers[0]!.load(as: UInt64.self) == 0x7f00_0000_1000)
        #expect(block.pointers[1]!.load(as: UInt64.self) == 0)
        #expect(block.pointers[2]!.load(as: Int64.self) == 5_000_000_000)
        #expect(block.pointers[3]!.load(as: Int32.self) == -7)
        #expect(block.pointers[4]!.load(as: Int32.self) == 384)
        // Each value has its own 8-byte aligned slot.
        let addresses = (0 ..< 5).map { UInt(bitPattern: block.pointers[$0]) }
        #expect(addresses.allSatisfy { $0 % 8 == 0 } && Set(addresses).count == 5)

        let p = DevicePointer(address: 8)
        let rmsnorm = KernelCall.addRMSNorm(out: p, residual: p, hidden: p, weight: p, rows: 1, d: 192, add: true, eps: 1e-5)
        let floats = KernelArgumentBlock(rmsnorm.arguments)
        #expect(floats.pointers[5]!.load(as: Int32.self) == 1)
        #expect(floats.pointers[6]!.load(as: Float.self) == 1e-5)
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
