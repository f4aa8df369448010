import FastVimCUDA
import Foundation

/// The `.cu` files compiled for the host into one shared library with the emulation
/// prelude, plus one `fv_emu_<name>(void** params)` trampoline per kernel. Built once per
/// set of sources: the .so is cached on disk under a hash of everything it is built from,
/// and loaded libraries are shared by every device of the process.
final class EmulatedKernelLibrary: @unchecked Sendable {
    typealias Launch = @convention(c) (UnsafeRawPointer, UnsafeMutablePointer<UnsafeMutableRawPointer?>, Int32, Int32, Int32) -> Int32

    struct Entry {
        let address: UnsafeRawPointer
        /// Needs fibers: the kernel synchronises threads (barriers or warp shuffles).
        let cooperative: Bool
    }

    let launch: Launch
    /// By kernel name: the `.cu` files' kernels, and those of the test sources it was built with.
    let entries: [String: Entry]
    let path: String

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: [String: EmulatedKernelLibrary] = [:]

    /// `testSources`: more CUDA source, for tests of the emulator itself.
    static func load(testSources: [String] = []) throws(CUDAError) -> EmulatedKernelLibrary {
        let (program, compiler, flags) = (translationUnit(testSources: testSources), try HostCompiler.find(), HostCompiler.flags)
        let key = fnv1a([program, compiler] + flags)
        lock.lock()
        defer { lock.unlock() }
        if let library = loaded[key] { return library }
        let path = try HostCompiler.build(program, compiler: compiler, key: key)
        let library = try EmulatedKernelLibrary(path: path, sources: KernelFile.allCases.map(\.source) + testSources)
        loaded[key] = library
        return library
    }

    private init(path: String, sources: [String]) throws(CUDAError) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw .driver("cannot load the emulated kernels \(path): \(String(cString: dlerror()))")
        }
        func symbol(_ name: String) throws(CUDAError) -> UnsafeRawPointer {
            guard let p = dlsym(handle, name) else { throw .symbolNotFound(name, library: path) }
            return UnsafeRawPointer(p)
        }
        launch = unsafeBitCast(try symbol("fv_emu_launch"), to: Launch.self)
        var entries: [String: Entry] = [:]
        for source in sources {
            let signatures = CUDASignatures(source: source)
            let synchronising = signatures.synchronising
            for kernel in signatures.kernels {
                entries[kernel.name] = Entry(address: try symbol("fv_emu_" + kernel.name), cooperative: synchronising.contains(kernel.name))
            }
        }
        self.entries = entries
        self.path = path
    }

    /// The prelude, each `.cu` file under a `#line` naming it (so compiler messages say which
    /// file), and the trampolines.
    static func translationUnit(testSources: [String] = []) -> String {
        let sources = KernelFile.allCases.map { ($0.fileName, $0.source) } + testSources.enumerated().map { ("test-\($0.offset).cu", $0.element) }
        var text = EmulationPrelude.source + "\n"
        for (name, source) in sources {
            text += "#line 1 \"\(name)\"\n\(source)\n"
        }
        text += "#line 1 \"emulation-trampolines.cpp\"\n"
        for (_, source) in sources {
            for kernel in CUDASignatures(source: source).kernels {
                let arguments = kernel.parameters.indices.map { "fv_emu_argument{p[\($0)]}" }.joined(separator: ", ")
                text += "extern \"C\" void fv_emu_\(kernel.name)(void** p) { (void)p; \(kernel.name)(\(arguments)); }\n"
            }
        }
        return text
    }

    static func fnv1a(_ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// The host C++ compiler and the on-disk cache of what it built.
enum HostCompiler {
    static let flags = ["-O2", "-shared", "-fPIC", "-std=c++17", "-U_FORTIFY_SOURCE", "-w"]

    /// FASTVIM_EMULATION_CXX, else clang++ on PATH, Swift's own clang++, then g++.
    static func find() throws(CUDAError) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["FASTVIM_EMULATION_CXX"], !explicit.isEmpty { return explicit }
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let candidates = path.map { $0 + "/clang++" } + ["/opt/swift/usr/bin/clang++"] + path.map { $0 + "/g++" }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw .libraryNotFound(what: "a host C++ compiler (clang++ or g++) for the emulated kernels", tried: candidates)
        }
        return found
    }

    /// `.build/emulated-kernels` at the repository root (ignored by git, removed by
    /// `make clean`), or the temporary directory when that cannot be written.
    static let cacheDirectory: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        for candidate in [root.appendingPathComponent(".build/emulated-kernels").path, NSTemporaryDirectory() + "/fastvim-emu-cache"] {
            if (try? FileManager.default.createDirectory(atPath: candidate, withIntermediateDirectories: true)) != nil,
               FileManager.default.isWritableFile(atPath: candidate) { return candidate }
        }
        return NSTemporaryDirectory()
    }()

    /// Compiles `program` (plus `arguments`: more sources, libraries) into `output`, by
    /// default `kernels-<key>.so` in the cache; an existing file is taken as built.
    static func build(_ program: String, compiler: String, key: String, output: String? = nil,
                      arguments: [String] = []) throws(CUDAError) -> String {
        let library = output ?? cacheDirectory + "/kernels-\(key).so"
        if FileManager.default.fileExists(atPath: library) { return library }
        // Built under a private name and renamed, so concurrent test processes never load half a file.
        let unique = "\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0 ... .max))"
        let source = cacheDirectory + "/kernels-\(key)-\(unique).cpp", partial = library + ".\(unique)"
        defer { try? FileManager.default.removeItem(atPath: source) }
        do {
            try program.write(toFile: source, atomically: false, encoding: .utf8)
        } catch {
            throw .driver("cannot write \(source): \(error)")
        }
        let (status, log) = run(compiler, flags + ["-x", "c++", source] + arguments + ["-o", partial])
        guard status == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            let culprit = log.firstMatch(of: /([\w-]+\.cu):/).map { String($0.1) } ?? "the emulation prelude"
            throw .compilation(kernel: "\(culprit) (host C++, \(compiler))", log: log)
        }
        guard rename(partial, library) == 0 else { throw .driver("cannot move \(partial) to \(library)") }
        return library
    }

    private static func run(_ executable: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "cannot run \(executable): \(error)") }
        // Read before waiting: a long log would otherwise fill the pipe and stall the compiler.
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
