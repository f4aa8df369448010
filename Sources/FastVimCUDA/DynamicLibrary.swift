#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A shared library opened with dlopen at run time: the binary links no CUDA library, so it
/// builds and runs on machines without one; `--device cuda` opens them when asked.
public final class DynamicLibrary: @unchecked Sendable {
    public let path: String
    private let handle: UnsafeMutableRawPointer

    /// Tries each name in each directory (then the loader's own search), first match wins.
    /// A library that is there but does not load (a missing dependency, a libstdc++ too old
    /// for it) is reported with the loader's reason, not as missing.
    public init(names: [String], directories: [String], what: String) throws(CUDAError) {
        var tried: [String] = []
        var failures: [String] = []
        func open(_ candidate: String) -> UnsafeMutableRawPointer? {
            tried.append(candidate)
            if let h = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) { return h }
            if let reason = dlerror().map({ String(cString: $0) }), !reason.contains("No such file or directory") {
                failures.append(reason)
            }
            return nil
        }
        for candidate in directories.flatMap({ dir in names.map { (dir as NSString).appendingPathComponent($0) } }) + names {
            if let h = open(candidate) {
                handle = h
                path = candidate
                return
            }
        }
        throw .libraryNotFound(what: what, tried: tried, failures: failures)
    }

    deinit { dlclose(handle) }

    /// A C function of this library, cast to its Swift function type.
    public func symbol<T>(_ name: String, as type: T.Type) throws(CUDAError) -> T {
        guard let p = address(name) else { throw .symbolNotFound(name, library: path) }
        return unsafeBitCast(p, to: type)
    }

    /// The address of an exported symbol, nil when the library has none of that name.
    func address(_ name: String) -> UnsafeMutableRawPointer? { dlsym(handle, name) }
}

public enum CUDAError: Error, CustomStringConvertible, Equatable {
    case libraryNotFound(what: String, tried: [String], failures: [String] = [])
    case symbolNotFound(String, library: String)
    case compilation(kernel: String, log: String)
    case nvrtc(String)
    case driver(String)
    case launch(kernel: String, String)

    public var description: String {
        switch self {
        case let .libraryNotFound(what, _, failures) where !failures.isEmpty:
            return "\(what) is installed but does not load: \(failures.prefix(3).joined(separator: "; "))"
        case let .libraryNotFound(what, tried, _):
            let shown = tried.prefix(6).joined(separator: ", ")
            return "\(what) not found (tried \(shown)\(tried.count > 6 ? ", ..." : "")); install it, or point FASTVIM_CUDA_LIBRARY_PATH (or --cuda-library-path) at its directory"
        case let .symbolNotFound(name, library): return "\(library) has no symbol \(name) (too old a version?)"
        case let .compilation(kernel, log): return "could not compile \(kernel):\n\(log)"
        case let .nvrtc(message): return "NVRTC: \(message)"
        case let .driver(message): return "CUDA: \(message)"
        case let .launch(kernel, message): return "launching \(kernel): \(message)"
        }
    }
}

/// Where the CUDA libraries are looked for: an explicit directory and `FASTVIM_CUDA_LIBRARY_PATH`
/// first (both may be colon-separated lists, as the libraries may sit in several), then the
/// usual install locations, then the loader.
public enum CUDALibraryPath {
    public static func directories(explicit: String? = nil) -> [String] {
        var dirs: [String] = []
        if let explicit { dirs += explicit.split(separator: ":").map(String.init) }
        if let env = ProcessInfo.processInfo.environment["FASTVIM_CUDA_LIBRARY_PATH"] {
            dirs += env.split(separator: ":").map(String.init)
        }
        dirs += ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu",
                 "/usr/local/nvidia/lib64"]
        return dirs
    }
}
