import FastVimCUDA
import Foundation

/// A fake CUDA install for the host: `libcuda.so.1` (Native/fake_cuda.cpp, linked with the
/// emulated kernels: the prelude, every kernel source and its trampoline, as the emulated
/// device builds them) and `libcublas.so.12` (Native/fake_cublas.cpp over OpenBLAS), in a
/// directory of their own that `CUDADevice` is pointed at as at a driver's. Built with the
/// emulation's compiler into its cache, once per content; NVRTC stays the real one.
///
/// The test hooks (`fvfake_*`) are read from the same loaded libcuda the device uses: dlopen
/// of the same path returns the same library.
final class FakeDriverLibrary: @unchecked Sendable {
    let directory: String
    private let handle: UnsafeMutableRawPointer

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: FakeDriverLibrary?

    static func shared() throws(CUDAError) -> FakeDriverLibrary {
        lock.lock()
        defer { lock.unlock() }
        if let built { return built }
        let library = try FakeDriverLibrary()
        built = library
        return library
    }

    private init() throws(CUDAError) {
        let native = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Native").path
        let sources = ["fake_driver.h", "cuda_errors.inc", "fake_cuda.cpp", "fake_cublas.cpp"]
        var texts: [String] = []
        for name in sources {
            guard let text = try? String(contentsOfFile: native + "/" + name, encoding: .utf8) else {
                throw .driver("cannot read \(native)/\(name)")
            }
            texts.append(text)
        }
        let program = EmulatedKernelLibrary.translationUnit() + Self.kernelTable()
        let compiler = try HostCompiler.find()
        // No sonames: a bare dlopen("libcuda.so.1") elsewhere in the process (the tests that
        // expect no driver, NVRTC's compile cache) must not be handed the fake because it is
        // loaded. libcublas needs libcuda.so.1 from $ORIGIN, which is the fake already loaded
        // from there, as the real cuBLAS sits on the real driver.
        let cudaArguments = [native + "/fake_cuda.cpp", "-x", "none", "-Wl,-Bsymbolic"]
        let cublasArguments = [native + "/fake_cublas.cpp", "-x", "none", "-Wl,-Bsymbolic", "-l:libcuda.so.1", "-Wl,-rpath,$ORIGIN",
                               "-lopenblas"]
        let key = EmulatedKernelLibrary.fnv1a([program, compiler] + texts + HostCompiler.flags + cudaArguments + cublasArguments)
        let directory = HostCompiler.cacheDirectory + "/fake-cuda-\(key)"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .driver("cannot create \(directory): \(error)")
        }
        let cuda = try HostCompiler.build(program, compiler: compiler, key: key, output: directory + "/libcuda.so.1",
                                          arguments: cudaArguments)
        _ = try HostCompiler.build("", compiler: compiler, key: key, output: directory + "/libcublas.so.12",
                                   arguments: ["-L" + directory] + cublasArguments)
        guard let handle = dlopen(cuda, RTLD_NOW | RTLD_LOCAL) else {
            throw .driver("cannot load \(cuda): \(String(cString: dlerror()))")
        }
        self.directory = directory
        self.handle = handle
    }

    /// One row per kernel for the fake driver: its name, its trampoline, its parameter kinds
    /// (to check launches' pointers) and whether it needs fibers.
    static func kernelTable() -> String {
        var text = "#line 1 \"fake-driver-kernel-table.cpp\"\n"
        text += "struct fvfake_kernel { const char* name; void (*entry)(void**); const char* parameters; int cooperative; };\n"
        text += "extern \"C\" const fvfake_kernel fvfake_kernels[] = {\n"
        for file in KernelFile.allCases {
            let signatures = CUDASignatures(file)
            let synchronising = signatures.synchronising
            for kernel in signatures.kernels {
                let kinds = kernel.parameters.map { p -> String in
                    switch p {
                    case .pointer: "p"
                    case .int32: "i"
                    case .int64: "l"
                    case .float: "f"
                    }
                }.joined()
                let cooperative = synchronising.contains(kernel.name) ? 1 : 0
                text += "    {\"\(kernel.name)\", fv_emu_\(kernel.name), \"\(kinds)\", \(cooperative)},\n"
            }
        }
        return text + "    {nullptr, nullptr, nullptr, 0},\n};\n"
    }

    private func function<T>(_ name: String, as type: T.Type) -> T {
        guard let p = dlsym(handle, name) else { preconditionFailure("the fake libcuda has no \(name)") }
        return unsafeBitCast(p, to: type)
    }

    /// A live-object count or a counter of the fake driver (see `fvfake_stat`).
    func stat(_ name: String) -> Int {
        Int(name.withCString { function("fvfake_stat", as: (@convention(c) (UnsafePointer<CChar>) -> Int).self)($0) })
    }

    var lastFault: String {
        String(cString: function("fvfake_last_fault", as: (@convention(c) () -> UnsafePointer<CChar>).self)())
    }

    func clearFault() { function("fvfake_clear_fault", as: (@convention(c) () -> Void).self)() }

    func setDriverVersion(_ version: Int32) {
        function("fvfake_set_driver_version", as: (@convention(c) (Int32) -> Void).self)(version)
    }

    /// After `skip` calls of `driverFunction` from now, the next `times` fail with `code`.
    func inject(_ driverFunction: String, skip: Int = 0, times: Int = 1, code: Int32) {
        driverFunction.withCString {
            function("fvfake_inject", as: (@convention(c) (UnsafePointer<CChar>, Int32, Int32, Int32) -> Void).self)($0, Int32(skip), Int32(times), code)
        }
    }
}
