import Foundation

/// One GPU through the CUDA driver API and cuBLAS: the `KernelDevice` the GPU forward pass
/// runs on. Everything is queued on one non-blocking stream of the device's primary context
/// (the context the CUDA runtime and other libraries in the process share).
///
/// Threads: a CUDA context is current per thread, so every method makes the context current
/// on the calling thread first (`cuCtxSetCurrent`, a thread-local store). The bookkeeping is
/// locked, so calls from several threads are safe, but they queue onto the same stream in
/// whatever order they arrive: a forward pass should be driven by one caller at a time.
public final class CUDADevice: KernelDevice, @unchecked Sendable {
    public let gpu: CUDADriver.Device
    public let precision: GemmPrecision
    /// The CUDA version the driver supports, e.g. (12, 4).
    public let driverVersion: (major: Int, minor: Int)
    public let nvrtcVersion: (major: Int, minor: Int)
    /// Kernel files whose PTX came from the cache at start-up, and those NVRTC compiled.
    public private(set) var filesFromCache = 0, filesCompiled = 0

    let driver: CUDADriver
    let api: DriverAPI
    let blas: CUBLAS
    let cuDevice: Int32

    // Acquired in order by init and released in reverse by deinit; nil until acquired, so a
    // failure part way through init releases exactly what it got.
    var context: OpaquePointer?
    var stream: OpaquePointer?
    /// Converts bf16 weights while `stream` is capturing (see `bf16Weight`).
    var sideStream: OpaquePointer?
    var modules: [OpaquePointer] = []
    var functions: [Kernel: OpaquePointer] = [:]
    var blasHandle: OpaquePointer?
    var workspace: DevicePointer?

    let lock = NSLock()
    /// Every live cuMemAlloc of this device, with its size: frees, and the bf16 copies a free
    /// or an upload makes stale, are found by address range.
    var allocations: [UInt64: Int] = [:]
    var bf16Weights: [WeightKey: DevicePointer] = [:]
    var bf16Scratch: (pointer: DevicePointer, bytes: Int)?
    /// Memory a captured graph may still read: freed once no graph is left, or at deinit.
    var retired: [DevicePointer] = []
    var capturing = false
    var liveGraphs = 0
    /// Frees asked for during a capture: done when it ends (a free may synchronize, and
    /// waits for the stream, neither of which a capture allows).
    var freesAfterCapture: [DevicePointer] = []
    var hostFreesAfterCapture: [UnsafeMutableRawPointer] = []
    /// The first failure of a call that cannot throw (`free`), reported by the next `synchronize`.
    var deferredError: CUDAError?

    /// cuBLAS's workspace, set explicitly so that captured GEMMs do not make cuBLAS allocate
    /// one per graph; 32 MiB is what cuBLAS itself asks for on Hopper.
    static let workspaceBytes = 32 << 20

    public var summary: String { "cuda:\(gpu.ordinal) \(gpu.name) (\(gpu.architecture)), \(precision.rawValue) GEMMs" }

    /// Opens the GPU `spec` (`cuda` or `cuda:N`): driver, primary context, a stream, every
    /// kernel of the `.cu` files (PTX through `cache`), and cuBLAS on the stream.
    public init(spec: String = "cuda", libraryDirectories: [String] = CUDALibraryPath.directories(),
                precision: GemmPrecision = .fp32, cache: KernelCache = KernelCache()) throws(CUDAError) {
        driver = try CUDADriver(directories: libraryDirectories)
        gpu = try driver.device(spec)
        api = try DriverAPI(driver.library)
        blas = try CUBLAS(directories: libraryDirectories)
        let nvrtc = try NVRTC(directories: libraryDirectories)
        nvrtcVersion = nvrtc.version
        self.precision = precision
        var version: Int32 = 0
        _ = api.driverGetVersion(&version) // cuInit has succeeded: cannot fail for a valid pointer
        driverVersion = (Int(version) / 1000, Int(version) % 1000 / 10)
        var device: Int32 = 0
        try api.check(api.deviceGet(&device, Int32(gpu.ordinal)), "cuDeviceGet")
        cuDevice = device

        try api.check(api.primaryCtxRetain(&context, cuDevice), "cuDevicePrimaryCtxRetain")
        try enter()
        try api.check(api.streamCreate(&stream, DriverAPI.streamNonBlocking), "cuStreamCreate")
        try loadKernels(cache: cache, nvrtc: nvrtc)
        try blas.check(blas.create(&blasHandle), "cublasCreate_v2")
        try blas.check(blas.setStream(blasHandle, stream), "cublasSetStream_v2")
        // After cublasSetStream, which resets the workspace to cuBLAS's own pool.
        let space = try rawAllocate(Self.workspaceBytes)
        workspace = space
        try blas.check(blas.setWorkspace(blasHandle, UnsafeMutableRawPointer(bitPattern: UInt(space.address)), Self.workspaceBytes),
                       "cublasSetWorkspace_v2")
        let math = precision == .tf32 ? CUBLAS.tf32TensorOpMath : CUBLAS.defaultMath
        try blas.check(blas.setMathMode(blasHandle, math), "cublasSetMathMode")
    }

    /// Each kernel file as one module: from the PTX cache, else compiled by NVRTC.
    private func loadKernels(cache: KernelCache, nvrtc: NVRTC) throws(CUDAError) {
        for file in KernelFile.allCases {
            let (ptx, cached) = try cache.ptx(for: file.program, architecture: gpu.architecture, nvrtc: nvrtc)
            var compiled = !cached
            var module: OpaquePointer?
            var rc = ptx.withCString { api.moduleLoadData(&module, $0) }
            if rc == DriverAPI.unsupportedPTXVersion {
                // An NVRTC newer than the driver (PyTorch's cu13 wheels bring NVRTC 13.2, whose PTX
                // ISA 9.2 a 580 driver, CUDA 13.0, cannot JIT): machine code for this GPU loads.
                let binary = try nvrtc.compileCUBIN(file.source, name: file.fileName, architecture: gpu.architecture)
                rc = binary.withUnsafeBytes { api.moduleLoadData(&module, $0.baseAddress!) }
                if rc != 0 {
                    throw .driver("cuModuleLoadData failed for \(file.fileName), as PTX (CUDA_ERROR_UNSUPPORTED_PTX_VERSION) and as CUBIN (\(api.describe(rc))): "
                        + "NVRTC \(nvrtcVersion.major).\(nvrtcVersion.minor) is newer than this driver (CUDA \(driverVersion.major).\(driverVersion.minor)): "
                        + "use an NVRTC of the driver's major version")
                }
                compiled = true
            }
            try api.check(rc, "cuModuleLoadData(\(file.fileName))")
            if compiled { filesCompiled += 1 } else { filesFromCache += 1 }
            guard let module else { throw .driver("cuModuleLoadData(\(file.fileName)) returned no module") }
            modules.append(module)
            for kernel in file.kernels {
                var function: OpaquePointer?
                try api.check(kernel.name.withCString { api.moduleGetFunction(&function, module, $0) }, "cuModuleGetFunction(\(kernel.name))")
                guard let function else { throw .driver("cuModuleGetFunction(\(kernel.name)) returned no function") }
                functions[kernel] = function
            }
        }
    }

    deinit {
        guard let context else { return }
        _ = api.ctxSetCurrent(context)
        if let stream { _ = api.streamSynchronize(stream) }
        if let sideStream { _ = api.streamSynchronize(sideStream) }
        // cuBLAS goes before the workspace it was given.
        if let blasHandle { _ = blas.destroy(blasHandle) }
        // Everything allocated here (the caller's buffers, bf16 copies, scratch, cuBLAS's
        // workspace): the primary context outlives this object when others share it.
        for address in allocations.keys { _ = api.memFree(address) }
        for module in modules { _ = api.moduleUnload(module) }
        if let sideStream { _ = api.streamDestroy(sideStream) }
        if let stream { _ = api.streamDestroy(stream) }
        _ = api.primaryCtxRelease(cuDevice)
    }

    /// Makes the context current on the calling thread.
    func enter() throws(CUDAError) {
        try api.check(api.ctxSetCurrent(context), "cuCtxSetCurrent")
    }

    func locked<R>(_ body: () throws(CUDAError) -> R) throws(CUDAError) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    static func raw(_ pointer: DevicePointer) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: UInt(pointer.address))
    }

    // MARK: Memory

    /// cuMemAlloc_v2, recorded. The caller holds the lock.
    func rawAllocate(_ bytes: Int) throws(CUDAError) -> DevicePointer {
        var address: UInt64 = 0
        // Zero bytes is CUDA_ERROR_INVALID_VALUE; an empty tensor still wants a distinct address.
        let size = max(bytes, 1)
        try api.check(api.memAlloc(&address, size), "cuMemAlloc_v2(\(size) bytes)")
        allocations[address] = size
        return DevicePointer(address: address)
    }

    /// cuMemFree_v2, forgotten; during a capture, once it has ended. The caller holds the
    /// lock and has made the context current.
    func rawFree(_ pointer: DevicePointer) {
        guard allocations[pointer.address] != nil else {
            report(.driver("free of 0x\(String(pointer.address, radix: 16)), which this device did not allocate (or freed already)"))
            return
        }
        if capturing {
            freesAfterCapture.append(pointer)
            return
        }
        allocations[pointer.address] = nil
        waitBeforeFree()
        let rc = api.memFree(pointer.address)
        if rc != 0 { report(.driver("cuMemFree_v2 failed: \(api.describe(rc))")) }
    }

    /// Kernels and copies still queued may read what is about to be freed, and cuMemFree (and
    /// cuMemFreeHost) only "may perform implicit synchronization" (cuda.h): wait explicitly.
    /// Every launch, copy and graph replay goes to `stream`; the side stream is waited for
    /// right after each use. The caller holds the lock and is not capturing.
    func waitBeforeFree() {
        guard let stream else { return }
        let rc = api.streamSynchronize(stream)
        if rc != 0 { report(.driver("cuStreamSynchronize before a free failed: \(api.describe(rc))")) }
    }

    /// Keeps the first failure of a call that cannot throw for the next `synchronize`.
    func report(_ error: CUDAError) {
        if deferredError == nil { deferredError = error }
    }

    /// Frees now, or keeps until no captured graph can read it.
    func release(_ pointer: DevicePointer) {
        if capturing || liveGraphs > 0 { retired.append(pointer) } else { rawFree(pointer) }
    }

    public func allocate(bytes: Int) throws(CUDAError) -> DevicePointer {
        try locked { () throws(CUDAError) -> DevicePointer in
            try enter()
            return try rawAllocate(bytes)
        }
    }

    /// Failures (a pointer not from `allocate`, an error of the driver) are reported by the
    /// next `synchronize`.
    public func free(_ pointer: DevicePointer) {
        lock.lock()
        defer { lock.unlock() }
        do throws(CUDAError) { try enter() } catch {
            report(error)
            return
        }
        let size = allocations[pointer.address] ?? 1
        dropBF16Copies(overlapping: pointer.address, bytes: size)
        rawFree(pointer)
    }

    /// Queues the copy; pageable host memory is staged by the driver before this returns, so
    /// `host` may be reused at once. Not capturable (use `upload(from:PinnedBuffer...)`).
    public func upload(_ host: UnsafeRawBufferPointer, to pointer: DevicePointer) throws(CUDAError) {
        guard host.count > 0 else { return }
        try locked { () throws(CUDAError) in
            // The staging copy happens now, not at a replay: the driver refuses it in a capture,
            // and the refusal would invalidate the whole capture. Say why instead.
            guard !capturing else { throw .driver("upload of pageable memory inside captureGraph: use upload(from: PinnedBuffer) there") }
            try enter()
            dropBF16Copies(overlapping: pointer.address, bytes: host.count)
            try api.check(api.memcpyHtoDAsync(pointer.address, host.baseAddress, host.count, stream), "cuMemcpyHtoDAsync_v2")
        }
    }

    /// Copies and waits for the stream, so `host` holds the data on return.
    public func download(_ pointer: DevicePointer, into host: UnsafeMutableRawBufferPointer) throws(CUDAError) {
        guard host.count > 0 else { return }
        try locked { () throws(CUDAError) in
            guard !capturing else { throw .driver("download waits for the stream, which a graph capture forbids: use download(_:into:PinnedBuffer) inside captureGraph") }
            try enter()
            try api.check(api.memcpyDtoHAsync(host.baseAddress, pointer.address, host.count, stream), "cuMemcpyDtoHAsync_v2")
            try api.check(api.streamSynchronize(stream), "cuStreamSynchronize")
        }
    }

    /// Free and total device memory in bytes (cuMemGetInfo_v2).
    public func memoryInfo() throws(CUDAError) -> (free: Int, total: Int) {
        try locked { () throws(CUDAError) -> (free: Int, total: Int) in
            try enter()
            var free = 0, total = 0
            try api.check(api.memGetInfo(&free, &total), "cuMemGetInfo_v2")
            return (free, total)
        }
    }

    // MARK: Kernels

    public func launch(_ call: KernelCall) throws(CUDAError) {
        try locked { () throws(CUDAError) in
            try enter()
            try queue(call, on: stream)
        }
    }

    /// cuLaunchKernel on `stream`. The caller holds the lock and has made the context current.
    func queue(_ call: KernelCall, on stream: OpaquePointer?) throws(CUDAError) {
        let (kernel, shape) = (call.kernel, call.shape)
        guard let function = functions[kernel] else { throw .launch(kernel: kernel.name, "not a kernel this device loaded") }
        // gridDim.x may be up to 2³¹-1, blockDim.x up to 1024 on every GPU since Kepler.
        guard (1 ... Int(Int32.max)).contains(shape.grid), (1 ... 1024).contains(shape.block) else {
            throw .launch(kernel: kernel.name, "grid \(shape.grid) × block \(shape.block) is outside 1...2147483647 × 1...1024")
        }
        let block = KernelArgumentBlock(call.arguments)
        // cuLaunchKernel copies the argument values before it returns; the block lives until then.
        let rc = withExtendedLifetime(block) {
            api.launchKernel(function, UInt32(shape.grid), 1, 1, UInt32(shape.block), 1, 1, 0, stream, block.pointers, nil)
        }
        if rc != 0 { throw .launch(kernel: kernel.name, "cuLaunchKernel failed: \(api.describe(rc))") }
    }

    /// Waits for everything queued, and reports a failure of an earlier `free`.
    public func synchronize() throws(CUDAError) {
        try locked { () throws(CUDAError) in
            guard !capturing else { throw .driver("synchronize inside captureGraph: a capture cannot wait for its own stream") }
            try enter()
            try api.check(api.streamSynchronize(stream), "cuStreamSynchronize")
            if let error = deferredError {
                deferredError = nil
                throw error
            }
        }
    }

    /// Milliseconds of GPU time `body`'s queued work takes, between two CUDA events on the stream.
    public func time(_ body: () throws -> Void) throws -> Double {
        var start: OpaquePointer?, end: OpaquePointer?
        // Destroying an event whose record is pending is allowed: it is released on completion.
        defer {
            if let start { _ = api.eventDestroy(start) }
            if let end { _ = api.eventDestroy(end) }
        }
        try locked { () throws(CUDAError) in
            guard !capturing else { throw .driver("time inside captureGraph: events of a capture are not timed") }
            try enter()
            try api.check(api.eventCreate(&start, DriverAPI.eventDefault), "cuEventCreate")
            try api.check(api.eventCreate(&end, DriverAPI.eventDefault), "cuEventCreate")
            try api.check(api.eventRecord(start, stream), "cuEventRecord")
        }
        try body()
        return try locked { () throws(CUDAError) -> Double in
            try enter()
            try api.check(api.eventRecord(end, stream), "cuEventRecord")
            try api.check(api.eventSynchronize(end), "cuEventSynchronize")
            var milliseconds: Float = 0
            try api.check(api.eventElapsedTime(&milliseconds, start, end), "cuEventElapsedTime")
            return Double(milliseconds)
        }
    }
}
