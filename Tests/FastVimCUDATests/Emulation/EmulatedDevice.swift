import COpenBLAS
import FastVimCUDA
import Foundation

/// A `KernelDevice` on the host: the very kernel sources the GPU runs, compiled as C++
/// (see `EmulationPrelude`), device memory as host memory, GEMMs through OpenBLAS with
/// inputs rounded to `precision` first (how the tests estimate TF32's and bfloat16's cost).
/// Launches run to completion before returning, so `synchronize` has nothing to wait for.
final class EmulatedDevice: KernelDevice {
    let precision: GemmPrecision
    let summary: String
    private let library: EmulatedKernelLibrary
    /// Live allocations (address → bytes): copies and pointer arguments are checked against them.
    private var allocations: [UInt64: Int] = [:]

    /// Compiles (or finds in the cache) every `.cu` file, and `testSources` (kernels that
    /// test the emulator itself, launched with `launch(testKernel:)`).
    init(precision: GemmPrecision = .fp32, testSources: [String] = []) throws(CUDAError) {
        self.precision = precision
        library = try EmulatedKernelLibrary.load(testSources: testSources)
        summary = "emulated (host C++, \(Kernel.allCases.count) kernels, \(precision.rawValue) GEMMs)"
    }

    deinit {
        for address in allocations.keys { Foundation.free(UnsafeMutableRawPointer(bitPattern: UInt(address))) }
    }

    func allocate(bytes: Int) throws(CUDAError) -> DevicePointer {
        var memory: UnsafeMutableRawPointer?
        guard bytes >= 0, posix_memalign(&memory, ForwardPlan.alignment, max(bytes, 1)) == 0, let memory else {
            throw .driver("cannot allocate \(bytes) bytes")
        }
        // All-ones bytes are float NaNs: a kernel reading memory nobody wrote shows in its output.
        memset(memory, 0xFF, max(bytes, 1))
        let address = UInt64(UInt(bitPattern: memory))
        allocations[address] = bytes
        return DevicePointer(address: address)
    }

    func free(_ pointer: DevicePointer) {
        guard allocations.removeValue(forKey: pointer.address) != nil else {
            preconditionFailure("freeing \(pointer), which this device did not allocate (or already freed)")
        }
        Foundation.free(UnsafeMutableRawPointer(bitPattern: UInt(pointer.address)))
    }

    func upload(_ host: UnsafeRawBufferPointer, to pointer: DevicePointer) throws(CUDAError) {
        try checkRange(pointer, bytes: host.count, "upload")
        guard let base = host.baseAddress, host.count > 0 else { return }
        memory(pointer).copyMemory(from: base, byteCount: host.count)
    }

    func download(_ pointer: DevicePointer, into host: UnsafeMutableRawBufferPointer) throws(CUDAError) {
        try checkRange(pointer, bytes: host.count, "download")
        guard let base = host.baseAddress, host.count > 0 else { return }
        base.copyMemory(from: memory(pointer), byteCount: host.count)
    }

    func launch(_ call: KernelCall) throws(CUDAError) {
        try launch(testKernel: call.kernel.name, call.shape, call.arguments)
    }

    /// Any kernel the device was built with, by name (the test sources' kernels have no `KernelCall`).
    func launch(testKernel name: String, _ shape: LaunchShape, _ arguments: [KernelArgument]) throws(CUDAError) {
        guard let entry = library.entries[name] else { throw .launch(kernel: name, "not a kernel this device was built with") }
        let block = KernelArgumentBlock(arguments)
        for (i, argument) in arguments.enumerated() {
            if case let .pointer(p?) = argument, owner(of: p.address) == nil {
                throw .launch(kernel: name, "argument \(i) (\(p)) points into no live allocation")
            }
        }
        guard shape.grid >= 0, (1 ... 1024).contains(shape.block) else {
            throw .launch(kernel: name, "grid \(shape.grid), block \(shape.block): blocks have 1...1024 threads")
        }
        let rc = library.launch(entry.address, block.pointers, Int32(shape.grid), Int32(shape.block), entry.cooperative ? 1 : 0)
        withExtendedLifetime(block) {}
        guard rc == 0 else { throw .launch(kernel: name, "the emulator could not map fiber stacks (rc \(rc))") }
    }

    func gemmNT(out: DevicePointer, ldOut: Int, a: DevicePointer, lda: Int, b: DevicePointer, ldb: Int,
                m: Int, n: Int, k: Int, accumulate: Bool) throws(CUDAError) {
        guard m > 0, n > 0 else { return }
        guard lda >= k, ldb >= k, ldOut >= n, k >= 0 else {
            throw .launch(kernel: "gemmNT", "m \(m) n \(n) k \(k) with lda \(lda) ldb \(ldb) ldOut \(ldOut)")
        }
        try checkRange(a, bytes: ((m - 1) * lda + k) * 4, "gemmNT a")
        try checkRange(b, bytes: ((n - 1) * ldb + k) * 4, "gemmNT b")
        try checkRange(out, bytes: ((m - 1) * ldOut + n) * 4, "gemmNT out")
        let (pa, pb, po) = (floats(a), floats(b), floats(out))
        let beta: Float = accumulate ? 1 : 0
        guard precision != .fp32 else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, pa, Int32(lda), pb, Int32(ldb), beta, po, Int32(ldOut))
            return
        }
        let (ra, rb) = (rounded(pa, rows: m, ld: lda, k: k), rounded(pb, rows: n, ld: ldb, k: k))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, ra, Int32(max(k, 1)), rb, Int32(max(k, 1)), beta, po, Int32(ldOut))
    }

    func synchronize() throws(CUDAError) {}

    // MARK: - Host memory

    private func memory(_ pointer: DevicePointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(pointer.address))!
    }

    private func floats(_ pointer: DevicePointer) -> UnsafeMutablePointer<Float> {
        memory(pointer).assumingMemoryBound(to: Float.self)
    }

    private func owner(of address: UInt64) -> (base: UInt64, bytes: Int)? {
        allocations.first { address >= $0.key && address <= $0.key + UInt64($0.value) }.map { ($0.key, $0.value) }
    }

    private func checkRange(_ pointer: DevicePointer, bytes: Int, _ what: String) throws(CUDAError) {
        guard let (base, size) = owner(of: pointer.address), pointer.address + UInt64(max(bytes, 0)) <= base + UInt64(size) else {
            throw .driver("\(what) of \(bytes) bytes at \(pointer) is outside every allocation of the emulated device")
        }
    }

    private func rounded(_ matrix: UnsafePointer<Float>, rows: Int, ld: Int, k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: max(rows * k, 1))
        for r in 0 ..< rows {
            for c in 0 ..< k { out[r * k + c] = precision.rounded(matrix[r * ld + c]) }
        }
        return out
    }
}
