import Foundation

/// NVIDIA's runtime compiler, opened with dlopen: turns the engine's CUDA C kernel sources
/// into PTX for the GPU's architecture. Needs no GPU, so CI compiles every kernel with it.
public final class NVRTC: @unchecked Sendable {
    typealias Program = OpaquePointer?
    private typealias Version = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32
    private typealias Create = @convention(c) (UnsafeMutablePointer<Program>, UnsafePointer<CChar>, UnsafePointer<CChar>, Int32,
                                              UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    private typealias Compile = @convention(c) (Program, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
    private typealias SizeOf = @convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32
    private typealias Get = @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32
    private typealias Destroy = @convention(c) (UnsafeMutablePointer<Program>) -> Int32
    private typealias ErrorString = @convention(c) (Int32) -> UnsafePointer<CChar>?

    public let library: DynamicLibrary
    private let create: Create, compile: Compile, logSize: SizeOf, log: Get, ptxSize: SizeOf, ptx: Get, destroy: Destroy
    private let errorString: ErrorString
    /// nvrtcGetCUBINSize / nvrtcGetCUBIN, NVRTC 11.1 and later; nil before.
    private let cubinSize: SizeOf?, cubin: Get?
    public let version: (major: Int, minor: Int)

    public init(directories: [String] = CUDALibraryPath.directories()) throws(CUDAError) {
        library = try DynamicLibrary(names: ["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.11.2", "libnvrtc.so"],
                                     directories: directories, what: "NVRTC (libnvrtc)")
        create = try library.symbol("nvrtcCreateProgram", as: Create.self)
        compile = try library.symbol("nvrtcCompileProgram", as: Compile.self)
        logSize = try library.symbol("nvrtcGetProgramLogSize", as: SizeOf.self)
        log = try library.symbol("nvrtcGetProgramLog", as: Get.self)
        ptxSize = try library.symbol("nvrtcGetPTXSize", as: SizeOf.self)
        ptx = try library.symbol("nvrtcGetPTX", as: Get.self)
        destroy = try library.symbol("nvrtcDestroyProgram", as: Destroy.self)
        errorString = try library.symbol("nvrtcGetErrorString", as: ErrorString.self)
        cubinSize = try? library.symbol("nvrtcGetCUBINSize", as: SizeOf.self)
        cubin = try? library.symbol("nvrtcGetCUBIN", as: Get.self)
        let v = try library.symbol("nvrtcVersion", as: Version.self)
        var major: Int32 = 0, minor: Int32 = 0
        _ = v(&major, &minor)
        version = (Int(major), Int(minor))
    }

    /// Compiles one kernel source for `architecture` (e.g. "sm_90") and returns its PTX.
    public func compile(_ source: String, name: String, architecture: String) throws(CUDAError) -> String {
        let text = try build(source, name: name, architecture: architecture, size: ptxSize, get: ptx)
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The same kernel as machine code (an ELF cubin) for `architecture`, a real one (sm_XX).
    /// A driver loads it without JIT-compiling PTX, so also when this NVRTC writes a PTX ISA
    /// newer than the driver reads: within a CUDA major release that is the supported way
    /// (minor version compatibility) of using a newer NVRTC than the driver.
    public func compileCUBIN(_ source: String, name: String, architecture: String) throws(CUDAError) -> [UInt8] {
        guard let cubinSize, let cubin else {
            throw .nvrtc("NVRTC \(version.major).\(version.minor) cannot write CUBIN (NVRTC 11.1 and later can)")
        }
        return try build(source, name: name, architecture: architecture, size: cubinSize, get: cubin)
    }

    /// Compiles and returns what `size` and `get` read out of the program.
    private func build(_ source: String, name: String, architecture: String, size sizeOf: SizeOf, get: Get) throws(CUDAError) -> [UInt8] {
        var program: Program = nil
        var rc = source.withCString { src in name.withCString { create(&program, src, $0, 0, nil, nil) } }
        guard rc == 0 else { throw .nvrtc(message(rc)) }
        defer { _ = destroy(&program) }
        let options = Self.options(architecture: architecture)
        let cOptions = options.map { strdup($0) }
        defer { cOptions.forEach { free($0) } }
        rc = cOptions.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer { compile(program, Int32(options.count), $0.baseAddress) }
        if rc != 0 {
            var size = 0
            _ = logSize(program, &size)
            var text = [CChar](repeating: 0, count: max(size, 1))
            _ = log(program, &text)
            throw .compilation(kernel: "\(name) with NVRTC for \(architecture)", log: String(cString: text))
        }
        var size = 0
        rc = sizeOf(program, &size)
        guard rc == 0 else { throw .nvrtc(message(rc)) }
        var out = [UInt8](repeating: 0, count: max(size, 1))
        rc = out.withUnsafeMutableBytes { get(program, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        guard rc == 0 else { throw .nvrtc(message(rc)) }
        return out
    }

    /// The compile options for `architecture`; the kernel cache keys PTX on them too.
    public static func options(architecture: String) -> [String] {
        ["--gpu-architecture=\(architecture)", "--std=c++17", "-default-device"]
    }

    private func message(_ rc: Int32) -> String {
        errorString(rc).map { String(cString: $0) } ?? "error \(rc)"
    }
}
