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
    public init(names: [String], directories: [String], what: String) throws(CUDAError) {
        var tried: [String] = []
        for dir in directories {
            for name in names {
                let candidate = (dir as NSString).appendingPathComponent(name)
                tried.append(candidate)
                if let h = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) {
                    handle = h
                    path = candidate
                    return
                }
            }
        }
        for name in names {
            tried.append(name)
            if let h = dlopen(name, RTLD_NOW | RTLD_LOCAL) {
                handle = h
                path = name
                return
            }
        }
        throw .libraryNotFound(what: what, tried: tried)
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
    case libraryNotFound(what: String, tried: [String])
    case symbolNotFound(String, library: String)
    case compilation(kernel: String, log: String)
    case nvrtc(String)
    case driver(String)
    case launch(kernel: String, String)

    public var description: String {
        switch self {
        case let .libraryNotFound(what, tried):
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
