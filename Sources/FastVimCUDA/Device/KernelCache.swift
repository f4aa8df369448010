#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// PTX from NVRTC kept on disk, so a server starts without recompiling every kernel file
/// (NVRTC takes seconds a file). A PTX file is named by the kernel file, the architecture
/// and a hash of everything that changes the PTX: the compiler's identity (NVRTC version and
/// options), the architecture, the file's name and its source text.
///
/// The hash is FNV-1a 64, not a cryptographic one: this is a cache key, not a security
/// boundary. Whoever can write the cache directory can already replace the binary's
/// libraries; what the cache has to survive is staleness and torn or damaged files, so each
/// file ends with a checksum line over its PTX and must declare the kernel's entry point.
public final class KernelCache: @unchecked Sendable {
    /// Where PTX files go; nil when no directory could be chosen (every kernel is compiled).
    public let directory: String?

    /// `directory`, else `FASTVIM_CUDA_CACHE`, else `$XDG_CACHE_HOME/fastvim/cuda`, else
    /// `~/.cache/fastvim/cuda`.
    public init(directory: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.directory = directory ?? Self.defaultDirectory(environment: environment)
    }

    public static func defaultDirectory(environment: [String: String]) -> String? {
        if let explicit = environment["FASTVIM_CUDA_CACHE"], !explicit.isEmpty { return explicit }
        // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return xdg + "/fastvim/cuda" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home.isEmpty ? nil : home + "/.cache/fastvim/cuda"
    }

    /// The file name of one program's PTX, e.g. `scan-sm_90-0123456789abcdef.ptx`.
    public static func fileName(for program: KernelProgram, architecture: String, compiler: String) -> String {
        let key = [compiler, architecture, program.name, program.source].joined(separator: "\u{0}")
        let stem = program.name.hasSuffix(".cu") ? String(program.name.dropLast(3)) : program.name
        return "\(stem)-\(architecture)-\(hex(fnv1a64(key))).ptx"
    }

    /// The program's PTX for `architecture`: from the cache when a valid file is there
    /// (`cached` true), else from `compile`, then stored. `compiler` names the compiler and
    /// its options (see `NVRTC.cacheIdentity`); a cache that cannot be written is skipped.
    public func ptx(for program: KernelProgram, architecture: String, compiler: String,
                    compile: (KernelProgram) throws(CUDAError) -> String) throws(CUDAError) -> (ptx: String, cached: Bool) {
        let path = directory.map { $0 + "/" + Self.fileName(for: program, architecture: architecture, compiler: compiler) }
        if let path, let ptx = Self.load(path, kernels: program.kernels) { return (ptx, true) }
        let ptx = try compile(program)
        if let directory, let path { Self.store(ptx, at: path, in: directory) }
        return (ptx, false)
    }

    /// The same through NVRTC, keyed on its version and compile options.
    public func ptx(for program: KernelProgram, architecture: String, nvrtc: NVRTC) throws(CUDAError) -> (ptx: String, cached: Bool) {
        try ptx(for: program, architecture: architecture, compiler: nvrtc.cacheIdentity(architecture: architecture)) {
            (p: KernelProgram) throws(CUDAError) -> String in
            try nvrtc.compile(p.source, name: p.name, architecture: architecture)
        }
    }

    private static let trailer = "// fastvim-ptx-cache fnv1a64="

    /// A file's PTX when its checksum line matches and it declares every one of `kernels`;
    /// nil otherwise (missing, torn, edited, or for other kernels), which means: compile again.
    static func load(_ path: String, kernels: [String]) -> String? {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
              let mark = text.range(of: "\n" + trailer, options: .backwards) else { return nil }
        let ptx = String(text[..<mark.lowerBound])
        let stored = text[mark.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
        guard stored == hex(fnv1a64(ptx)), kernels.allSatisfy({ ptx.contains(".entry \($0)(") }) else { return nil }
        return ptx
    }

    /// Writes a temporary file, flushes it and renames it over `path`, so a reader (another
    /// server starting at the same time) sees the old file, the new one, or none, never half
    /// of one. Failures leave the cache as it was: the caller already has its PTX.
    @discardableResult
    static func store(_ ptx: String, at path: String, in directory: String) -> Bool {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch { return false }
        let temp = "\(directory)/.\(UInt64.random(in: 0 ... .max)).\(getpid()).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        let bytes = Array((ptx + "\n" + trailer + hex(fnv1a64(ptx)) + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            written += n
        }
        let flushed = written == bytes.count && fsync(fd) == 0
        close(fd)
        guard flushed, rename(temp, path) == 0 else {
            unlink(temp)
            return false
        }
        return true
    }

    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension NVRTC {
    /// What, besides the source, decides the PTX: the NVRTC version and the compile options.
    public func cacheIdentity(architecture: String) -> String {
        "nvrtc \(version.major).\(version.minor) " + Self.options(architecture: architecture).joined(separator: " ")
    }
}
