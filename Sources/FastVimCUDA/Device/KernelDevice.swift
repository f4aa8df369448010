import Dispatch

/// An address in a device's memory (a `CUdeviceptr` on a GPU; a host address for the
/// emulated device the tests run the same kernels on).
public struct DevicePointer: Hashable, Sendable {
    public let address: UInt64
    public init(address: UInt64) { self.address = address }

    /// `count` float32 elements further on.
    public func advanced(byFloats count: Int) -> DevicePointer { advanced(bytes: count * 4) }

    public func advanced(bytes count: Int) -> DevicePointer { DevicePointer(address: address + UInt64(count)) }
}

/// One kernel argument, as the kernel's C signature declares it (see `KernelCall`).
public enum KernelArgument: Sendable, Equatable {
    case pointer(DevicePointer?)
    case int32(Int32)
    case int64(Int64)
    case float(Float)

    public static func int(_ v: Int) -> KernelArgument { .int32(Int32(v)) }
    public static func long(_ v: Int) -> KernelArgument { .int64(Int64(v)) }
    public static func flag(_ v: Bool) -> KernelArgument { .int32(v ? 1 : 0) }
}

/// Arithmetic of the GEMMs: float32 throughout (the default, as the paper measured), TF32
/// tensor cores, or bfloat16 inputs with float32 accumulation.
public enum GemmPrecision: String, Sendable, CaseIterable {
    case fp32, tf32, bf16
}

/// What the GPU forward pass needs of a device: memory, the kernels of the `.cu` files, and
/// row-major GEMMs. The CUDA driver + cuBLAS implement it on a GPU; the tests also run it
/// on the host, through the same kernel sources compiled as C++ (see the emulated device).
public protocol KernelDevice: AnyObject {
    /// For logs and reports, e.g. "cuda:0 NVIDIA H100 80GB HBM3 (sm_90)".
    var summary: String { get }
    func allocate(bytes: Int) throws(CUDAError) -> DevicePointer
    func free(_ pointer: DevicePointer)
    func upload(_ host: UnsafeRawBufferPointer, to pointer: DevicePointer) throws(CUDAError)
    func download(_ pointer: DevicePointer, into host: UnsafeMutableRawBufferPointer) throws(CUDAError)
    /// Queues one kernel launch.
    func launch(_ call: KernelCall) throws(CUDAError)
    /// Row-major out (m, n) = a (m, k) · b (n, k)ᵀ, plus out when `accumulate`; the CPU engine's gemmNT.
    func gemmNT(out: DevicePointer, ldOut: Int, a: DevicePointer, lda: Int, b: DevicePointer, ldb: Int,
                m: Int, n: Int, k: Int, accumulate: Bool) throws(CUDAError)
    /// Waits for everything queued.
    func synchronize() throws(CUDAError)
    /// Milliseconds the device spends on what `body` queues (CUDA events on a GPU).
    func time(_ body: () throws -> Void) throws -> Double
}

extension KernelDevice {
    /// Host clock around `body` between two synchronizations: right for devices whose
    /// launches run to completion on the host.
    public func time(_ body: () throws -> Void) throws -> Double {
        try synchronize()
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        try synchronize()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    /// Allocates and fills a buffer with host floats.
    public func upload(_ values: UnsafeBufferPointer<Float>) throws(CUDAError) -> DevicePointer {
        let p = try allocate(bytes: max(values.count, 1) * 4)
        try upload(UnsafeRawBufferPointer(values), to: p)
        return p
    }

    public func upload(_ values: [Float]) throws -> DevicePointer {
        try values.withUnsafeBufferPointer { try upload($0) }
    }

    public func download(_ pointer: DevicePointer, floats count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try download(pointer, into: $0) }
        return out
    }
}

/// Kernel arguments laid out as `cuLaunchKernel`'s `kernelParams` (an array of pointers to
/// each value). Their order and types are the typed `KernelCall` functions' business.
public final class KernelArgumentBlock {
    private let storage: UnsafeMutableRawPointer
    public let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    public let count: Int

    public init(_ arguments: [KernelArgument]) {
        count = arguments.count
        storage = .allocate(byteCount: max(count, 1) * 8, alignment: 8)
        pointers = .allocate(capacity: max(count, 1))
        for (i, argument) in arguments.enumerated() {
            let slot = storage + i * 8
            switch argument {
            case let .pointer(p): slot.storeBytes(of: p?.address ?? 0, as: UInt64.self)
            case let .int32(v): slot.storeBytes(of: v, as: Int32.self)
            case let .int64(v): slot.storeBytes(of: v, as: Int64.self)
            case let .float(v): slot.storeBytes(of: v, as: Float.self)
            }
            pointers[i] = slot
        }
    }

    deinit {
        storage.deallocate()
        pointers.deallocate()
    }
}
