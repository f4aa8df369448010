import Foundation

/// The CUDA driver API (libcuda.so.1, installed with the NVIDIA driver), opened with dlopen:
/// enough to find the GPUs and their architecture, and to say clearly what is missing.
public final class CUDADriver: @unchecked Sendable {
    public struct Device: Sendable, Equatable {
        public let ordinal: Int
        public let name: String
        public let computeCapability: (major: Int, minor: Int)
        /// The NVRTC target for this GPU, e.g. "sm_90".
        public var architecture: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }

        public static func == (l: Device, r: Device) -> Bool {
            l.ordinal == r.ordinal && l.name == r.name && l.computeCapability == r.computeCapability
        }
    }

    private typealias Init = @convention(c) (UInt32) -> Int32
    private typealias Count = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    private typealias Get = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias Name = @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Int32
    private typealias Attribute = @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Int32
    private typealias ErrorName = @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32

    public let library: DynamicLibrary
    public let devices: [Device]

    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR in cuda.h.
    static let capabilityMajor: Int32 = 75, capabilityMinor: Int32 = 76

    public init(directories: [String] = CUDALibraryPath.directories()) throws(CUDAError) {
        library = try DynamicLibrary(names: ["libcuda.so.1", "libcuda.so"], directories: directories,
                                     what: "the CUDA driver (libcuda.so.1, from the NVIDIA driver)")
        let cuInit = try library.symbol("cuInit", as: Init.self)
        let count = try library.symbol("cuDeviceGetCount", as: Count.self)
        let get = try library.symbol("cuDeviceGet", as: Get.self)
        let name = try library.symbol("cuDeviceGetName", as: Name.self)
        let attribute = try library.symbol("cuDeviceGetAttribute", as: Attribute.self)
        let rc = cuInit(0)
        guard rc == 0 else {
            // cuGetErrorName needs no cuInit: the code's name says what is wrong (no device,
            // a driver older than the library expects, ...).
            var name: UnsafePointer<CChar>?
            let errorName = try? library.symbol("cuGetErrorName", as: ErrorName.self)
            let known = errorName.map { $0(rc, &name) == 0 } ?? false
            let text = known ? name.map { String(cString: $0) } ?? "CUresult \(rc)" : "CUresult \(rc)"
            throw .driver("cuInit failed: \(text): no usable GPU or driver")
        }
        var n: Int32 = 0
        guard count(&n) == 0, n > 0 else { throw .driver("the CUDA driver sees no GPU") }
        var found: [Device] = []
        for i in 0 ..< n {
            var device: Int32 = 0, major: Int32 = 0, minor: Int32 = 0
            var text = [CChar](repeating: 0, count: 256)
            guard get(&device, i) == 0, name(&text, 255, device) == 0,
                  attribute(&major, Self.capabilityMajor, device) == 0, attribute(&minor, Self.capabilityMinor, device) == 0
            else { continue }
            found.append(Device(ordinal: Int(i), name: String(cString: text), computeCapability: (Int(major), Int(minor))))
        }
        devices = found
    }

    /// `cuda` or `cuda:N`: the GPU to use, or a clear error.
    public func device(_ spec: String) throws(CUDAError) -> Device {
        let ordinal = spec == "cuda" ? 0 : Int(spec.dropFirst("cuda:".count)) ?? -1
        guard spec == "cuda" || spec.hasPrefix("cuda:"), let d = devices.first(where: { $0.ordinal == ordinal }) else {
            throw .driver("no GPU \(spec): \(devices.count) visible (\(devices.map { "cuda:\($0.ordinal) \($0.name)" }.joined(separator: ", ")))")
        }
        return d
    }
}
