// swift-tools-version:6.0
import PackageDescription

import Foundation

// The engine's SIMD kernels (exp, SiLU, softplus, the scan, the conv) are written for one
// vector width, chosen here for release builds by FASTVIM_CPU:
//   avx512    AVX-512 (F, CD, BW, DQ, VL): sixteen-lane kernels, Skylake-SP-class code;
//   avx2      AVX2 and FMA: eight-lane kernels, Haswell-class code;
//   baseline  any x86-64 (eight-lane kernels in generic code; FASTVIM_PORTABLE=1 says the same).
// Unset, it is the best the building machine has, and the binary then needs it too: build
// with FASTVIM_CPU=avx2 (or baseline) for binaries that must run on other machines.
enum TargetCPU: String { case baseline, avx2, avx512 }

// Other architectures build the baseline whatever FASTVIM_CPU says (these are x86-64 names).
let targetCPU: TargetCPU = {
    #if arch(x86_64)
    let environment = ProcessInfo.processInfo.environment
    if environment["FASTVIM_PORTABLE"] == "1" { return .baseline }
    if let chosen = environment["FASTVIM_CPU"], !chosen.isEmpty {
        guard let cpu = TargetCPU(rawValue: chosen) else { fatalError("FASTVIM_CPU=\(chosen): expected baseline, avx2 or avx512") }
        return cpu
    }
    #endif
    #if arch(x86_64) && os(Linux)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return .baseline }
    let set = Set(flags.split(separator: " ").map(String.init))
    guard set.contains("avx2") && set.contains("fma") else { return .baseline }
    return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(set.contains) ? .avx512 : .avx2
    #else
    return .baseline
    #endif
}()

let cpuFlags: [String] = switch targetCPU {
case .baseline: []
case .avx2: ["-target-cpu", "haswell", "-DFASTVIM_FMA"]
case .avx512: ["-target-cpu", "skylake-avx512", "-DFASTVIM_FMA", "-DFASTVIM_AVX512"]
}

// FastVimServing and the executable are built without those flags, so that the executable
// can say which instructions this build needs before any kernel runs (`CPUCheck`, in
// FastVimServing) instead of dying of SIGILL.
let cpuRequirement: [SwiftSetting] = switch targetCPU {
case .baseline: []
case .avx2: [.define("FASTVIM_NEEDS_AVX2", .when(configuration: .release))]
case .avx512: [.define("FASTVIM_NEEDS_AVX2", .when(configuration: .release)), .define("FASTVIM_NEEDS_AVX512", .when(configuration: .release))]
}

// Overflow checks off in the hot loops; release builds only (tests and benchmarks run
// `-c release`), never debug ones.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"] + cpuFlags, .when(configuration: .release)),
]

let package = Package(
    name: "FastVimServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fastvim", targets: ["fastvim"]),
        .library(name: "FastVimEngine", targets: ["FastVimEngine"]),
        .library(name: "FastVimImages", targets: ["FastVimImages"]),
        .library(name: "FastVimServing", targets: ["FastVimServing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries, each behind a module map with a one-line shim header.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CNGHTTP2", path: "Sources/CNGHTTP2"),
        .systemLibrary(name: "CPosix", path: "Sources/CPosix"),
        // OpenSSL's API is half macros: thin C functions give Swift a stable surface.
        .target(
            name: "CTLS",
            path: "Sources/CTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // libjpeg/libpng report errors by longjmp: that control flow stays inside C.
        .target(
            name: "CImageCodecs",
            path: "Sources/CImageCodecs",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]
        ),
        .target(
            name: "FastVimEngine",
            dependencies: ["COpenBLAS", "CDNNL", "CZlib"],
            swiftSettings: fastMath
        ),
        .target(
            name: "FastVimImages",
            dependencies: ["CImageCodecs"],
            swiftSettings: fastMath
        ),
        // HTTP/1.1 and HTTP/2 (nghttp2) over our own epoll loop, TLS through OpenSSL; knows nothing of models.
        .target(
            name: "FastVimHTTP",
            dependencies: ["CNGHTTP2", "CTLS", "CPosix", .product(name: "Logging", package: "swift-log")]
        ),
        // The CUDA backend, opened at run time with dlopen (no CUDA toolkit needed to build):
        // library discovery, NVRTC, the kernels, and the forward pass over a KernelDevice.
        // The kernels are .cu files compiled into the binary as text, for NVRTC at start-up.
        .target(
            name: "FastVimCUDA",
            dependencies: ["FastVimEngine"],
            resources: ["embedding", "norm", "layout", "conv", "scan", "combine", "elementwise"].map { .embedInCode("Kernels/\($0).cu") }
        ),
        // Where models meet images and HTTP: bundles, classification, batching, routes, metrics.
        .target(
            name: "FastVimServing",
            dependencies: [
                "FastVimEngine", "FastVimImages", "FastVimHTTP", "CZlib", "CTLS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The API's OpenAPI document, compiled into the binary (no bundle to find at run time).
            resources: [.embedInCode("Resources/openapi.json")],
            swiftSettings: cpuRequirement
        ),
        .executableTarget(
            name: "fastvim",
            dependencies: [
                "FastVimEngine",
                "FastVimImages",
                "FastVimServing",
                "FastVimCUDA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Fixture lookup, tolerance checks and file writers shared by the test targets.
        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(name: "FastVimEngineTests", dependencies: ["FastVimEngine", "TestSupport"]),
        // Also runs the kernel sources on the host (compiled as C++) against the CPU engine.
        // FakeDriver/Native: C++ of a fake libcuda/libcublas, compiled by the tests themselves.
        .testTarget(name: "FastVimCUDATests", dependencies: ["FastVimCUDA", "FastVimEngine", "FastVimServing", "COpenBLAS", "TestSupport"],
                    exclude: ["FakeDriver/Native"]),
        .testTarget(name: "FastVimHTTPTests", dependencies: ["FastVimHTTP", "TestSupport"]),
        // Launches the real `fastvim serve` binary and talks to it with real clients; imports no server module.
        .testTarget(name: "ServerTests", dependencies: ["TestSupport"]),
        .testTarget(name: "FastVimServingTests", dependencies: ["FastVimServing", "FastVimEngine", "FastVimImages", "TestSupport"]),
        .testTarget(
            name: "FastVimImagesTests",
            dependencies: ["FastVimImages", "TestSupport"],
            // Read by path (tools/make_image_test_fixtures.py writes them), not bundled.
            exclude: ["Resources"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
