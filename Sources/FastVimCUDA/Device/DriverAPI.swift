/// The CUDA driver entry points the device uses, looked up in libcuda by the exact symbols
/// that cuda.h (CUDA 12 and 13) binds its names to: `cuMemAlloc` is `cuMemAlloc_v2`, and so on.
/// The unversioned names of the `_v2` functions are the 32-bit-size ABI of CUDA 3.x and
/// must not be called. Types: CUresult and C enums are `Int32`, CUdevice `int`,
/// CUdeviceptr `unsigned long long`, size_t `Int`, handles opaque pointers.
struct DriverAPI {
    typealias Result = Int32
    typealias Handle = OpaquePointer?

    let getErrorName: @convention(c) (Result, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result
    let getErrorString: @convention(c) (Result, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Result
    let driverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Result
    let deviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Result
    let primaryCtxRetain: @convention(c) (UnsafeMutablePointer<Handle>, Int32) -> Result
    let primaryCtxRelease: @convention(c) (Int32) -> Result
    let ctxSetCurrent: @convention(c) (Handle) -> Result
    let streamCreate: @convention(c) (UnsafeMutablePointer<Handle>, UInt32) -> Result
    let streamDestroy: @convention(c) (Handle) -> Result
    let streamSynchronize: @convention(c) (Handle) -> Result
    let moduleLoadData: @convention(c) (UnsafeMutablePointer<Handle>, UnsafeRawPointer) -> Result
    let moduleUnload: @convention(c) (Handle) -> Result
    let moduleGetFunction: @convention(c) (UnsafeMutablePointer<Handle>, Handle, UnsafePointer<CChar>) -> Result
    /// f, grid x/y/z, block x/y/z, shared bytes, stream, kernelParams, extra.
    let launchKernel: @convention(c) (Handle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, Handle,
                                      UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                      UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Result
    let memAlloc: @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> Result
    let memFree: @convention(c) (UInt64) -> Result
    let memGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> Result
    let memcpyHtoDAsync: @convention(c) (UInt64, UnsafeRawPointer?, Int, Handle) -> Result
    let memcpyDtoHAsync: @convention(c) (UnsafeMutableRawPointer?, UInt64, Int, Handle) -> Result
    let memHostAlloc: @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int, UInt32) -> Result
    let memFreeHost: @convention(c) (UnsafeMutableRawPointer?) -> Result
    let eventCreate: @convention(c) (UnsafeMutablePointer<Handle>, UInt32) -> Result
    let eventRecord: @convention(c) (Handle, Handle) -> Result
    let eventSynchronize: @convention(c) (Handle) -> Result
    let eventElapsedTime: @convention(c) (UnsafeMutablePointer<Float>, Handle, Handle) -> Result
    let eventDestroy: @convention(c) (Handle) -> Result
    let streamBeginCapture: @convention(c) (Handle, Int32) -> Result
    let streamEndCapture: @convention(c) (Handle, UnsafeMutablePointer<Handle>) -> Result
    let graphInstantiateWithFlags: @convention(c) (UnsafeMutablePointer<Handle>, Handle, UInt64) -> Result
    let graphLaunch: @convention(c) (Handle, Handle) -> Result
    let graphExecDestroy: @convention(c) (Handle) -> Result
    let graphDestroy: @convention(c) (Handle) -> Result

    // cuda.h enum values used with these functions.
    static let streamNonBlocking: UInt32 = 0x1 // CU_STREAM_NON_BLOCKING
    static let eventDefault: UInt32 = 0x0 // CU_EVENT_DEFAULT (timing enabled)
    static let eventDisableTiming: UInt32 = 0x2 // CU_EVENT_DISABLE_TIMING
    static let captureModeRelaxed: Int32 = 2 // CU_STREAM_CAPTURE_MODE_RELAXED (GLOBAL 0, THREAD_LOCAL 1)
    static let hostAllocDefault: UInt32 = 0 // cuMemHostAlloc flags: page-locked, this context only
    static let unsupportedPTXVersion: Result = 222 // CUDA_ERROR_UNSUPPORTED_PTX_VERSION

    init(_ library: DynamicLibrary) throws(CUDAError) {
        try self.init(library: library.path, lookup: library.address)
    }

    /// Looks each entry point up with `lookup`; where a name has a fallback, the first name
    /// is the one today's cuda.h binds to and the second the one older drivers export.
    init(library: String, lookup: (String) -> UnsafeMutableRawPointer?) throws(CUDAError) {
        func symbol<T>(_ names: String...) throws(CUDAError) -> T {
            for name in names {
                if let address = lookup(name) { return unsafeBitCast(address, to: T.self) }
            }
            throw .symbolNotFound(names[0], library: library)
        }
        getErrorName = try symbol("cuGetErrorName")
        getErrorString = try symbol("cuGetErrorString")
        driverGetVersion = try symbol("cuDriverGetVersion")
        deviceGet = try symbol("cuDeviceGet")
        primaryCtxRetain = try symbol("cuDevicePrimaryCtxRetain")
        // _v2 since CUDA 11; same signature, the unversioned one is what drivers before it have.
        primaryCtxRelease = try symbol("cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease")
        ctxSetCurrent = try symbol("cuCtxSetCurrent")
        streamCreate = try symbol("cuStreamCreate")
        streamDestroy = try symbol("cuStreamDestroy_v2")
        streamSynchronize = try symbol("cuStreamSynchronize")
        moduleLoadData = try symbol("cuModuleLoadData")
        moduleUnload = try symbol("cuModuleUnload")
        moduleGetFunction = try symbol("cuModuleGetFunction")
        launchKernel = try symbol("cuLaunchKernel")
        memAlloc = try symbol("cuMemAlloc_v2")
        memFree = try symbol("cuMemFree_v2")
        memGetInfo = try symbol("cuMemGetInfo_v2")
        memcpyHtoDAsync = try symbol("cuMemcpyHtoDAsync_v2")
        memcpyDtoHAsync = try symbol("cuMemcpyDtoHAsync_v2")
        memHostAlloc = try symbol("cuMemHostAlloc")
        memFreeHost = try symbol("cuMemFreeHost")
        eventCreate = try symbol("cuEventCreate")
        eventRecord = try symbol("cuEventRecord")
        eventSynchronize = try symbol("cuEventSynchronize")
        // CUDA 13's cuda.h binds the name to _v2 (new in 12.8, same signature); drivers before
        // 12.8 only have the unversioned one, which later drivers keep for older binaries.
        eventElapsedTime = try symbol("cuEventElapsedTime_v2", "cuEventElapsedTime")
        eventDestroy = try symbol("cuEventDestroy_v2")
        streamBeginCapture = try symbol("cuStreamBeginCapture_v2")
        streamEndCapture = try symbol("cuStreamEndCapture")
        // cuda.h 12+ binds cuGraphInstantiate to this; the exported cuGraphInstantiate is the
        // CUDA 11 five-argument (error node, log buffer) ABI.
        graphInstantiateWithFlags = try symbol("cuGraphInstantiateWithFlags")
        graphLaunch = try symbol("cuGraphLaunch")
        graphExecDestroy = try symbol("cuGraphExecDestroy")
        graphDestroy = try symbol("cuGraphDestroy")
    }

    /// Throws `CUDAError.driver("cuXxx failed: CUDA_ERROR_...: description")` unless `result` is CUDA_SUCCESS.
    func check(_ result: Result, _ function: String) throws(CUDAError) {
        guard result != 0 else { return }
        throw .driver("\(function) failed: \(describe(result))")
    }

    func describe(_ result: Result) -> String {
        var name: UnsafePointer<CChar>?
        var text: UnsafePointer<CChar>?
        // Both leave the pointer NULL (and return CUDA_ERROR_INVALID_VALUE) for codes they do not know.
        let known = getErrorName(result, &name) == 0 && name != nil
        _ = getErrorString(result, &text)
        let n = known ? String(cString: name!) : "CUresult \(result)"
        return text.map { "\(n): \(String(cString: $0))" } ?? n
    }
}
