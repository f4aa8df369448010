@testable import FastVimCUDA
import Foundation
import Testing

/// PTX cache: hits skip NVRTC, anything that changes the PTX or damages a file misses.
@Suite struct KernelCacheTests {
    static func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fastvim-kernel-cache-\(UUID().uuidString)").path
        return dir
    }

    /// A compiler that counts its calls, around the real NVRTC.
    final class Counting {
        let nvrtc: NVRTC
        var calls = 0
        init() throws { nvrtc = try NVRTC(directories: KernelCompilationTests.directories) }

        func ptx(_ cache: KernelCache, _ program: KernelProgram, _ architecture: String) throws -> (ptx: String, cached: Bool) {
            try cache.ptx(for: program, architecture: architecture, compiler: nvrtc.cacheIdentity(architecture: architecture)) {
                (p: KernelProgram) throws(CUDAError) -> String in
                calls += 1
                return try nvrtc.compile(p.source, name: p.name, architecture: architecture)
            }
        }
    }

    static let kernel = KernelFile.elementwise.program

    @Test func secondCallIsAHitWithoutTheCompiler() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let compiler = try Counting()
        let cache = KernelCache(directory: dir)
        let first = try compiler.ptx(cache, Self.kernel, "sm_90")
        #expect(!first.cached && compiler.calls == 1)
        #expect(first.ptx.contains(".entry fv_add_row_bias("))
        // A second cache object (a second server start) reads the file.
        let second = try compiler.ptx(KernelCache(directory: dir), Self.kernel, "sm_90")
        #expect(second.cached && compiler.calls == 1)
        #expect(second.ptx == first.ptx)
        // Another architecture is another entry.
        let other = try compiler.ptx(cache, Self.kernel, "sm_80")
        #expect(!other.cached && compiler.calls == 2)
        // No temporary files left behind.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.count == 2 && files.allSatisfy { $0.hasSuffix(".ptx") && !$0.hasPrefix(".") })
    }

    @Test func changedSourceOrCompilerMisses() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let compiler = try Counting()
        let cache = KernelCache(directory: dir)
        _ = try compiler.ptx(cache, Self.kernel, "sm_90")
        let edited = KernelProgram(name: Self.kernel.name, source: Self.kernel.source.replacingOccurrences(of: "+=", with: "-="),
                                   kernels: Self.kernel.kernels)
        let again = try compiler.ptx(cache, edited, "sm_90")
        #expect(!again.cached && compiler.calls == 2)
        #expect(KernelCache.fileName(for: Self.kernel, architecture: "sm_90", compiler: "nvrtc 12.9 -a")
            != KernelCache.fileName(for: Self.kernel, architecture: "sm_90", compiler: "nvrtc 12.8 -a"))
    }

    @Test func corruptFilesAreRecompiled() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let compiler = try Counting()
        let cache = KernelCache(directory: dir)
        let first = try compiler.ptx(cache, Self.kernel, "sm_90")
        let path = dir + "/" + KernelCache.fileName(for: Self.kernel, architecture: "sm_90",
                                                    compiler: compiler.nvrtc.cacheIdentity(architecture: "sm_90"))
        let damaged: [String] = [
            String(first.ptx.prefix(first.ptx.count / 2)), // torn
            first.ptx.replacingOccurrences(of: "fv_add_row_bias", with: "fv_other"), // another kernel, checksum kept
            "garbage",
        ]
        for (i, text) in damaged.enumerated() {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let again = try compiler.ptx(cache, Self.kernel, "sm_90")
            #expect(!again.cached && compiler.calls == 2 + i)
            #expect(again.ptx == first.ptx)
            #expect(try compiler.ptx(cache, Self.kernel, "sm_90").cached) // rewritten
        }
        // Bytes that are not UTF-8 at all.
        try Data([0xff, 0xfe, 0x00, 0x80]).write(to: URL(fileURLWithPath: path))
        #expect(try !compiler.ptx(cache, Self.kernel, "sm_90").cached)
    }

    @Test func unwritableDirectoryStillCompiles() throws {
        // A directory below a regular file cannot be created, even by root.
        let file = Self.temporaryDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let compiler = try Counting()
        let cache = KernelCache(directory: file + "/cache")
        for _ in 0 ..< 2 {
            let result = try compiler.ptx(cache, Self.kernel, "sm_90")
            #expect(!result.cached && result.ptx.contains(".entry fv_add_row_bias("))
        }
        #expect(compiler.calls == 2)
    }

    @Test func compileErrorsAreNotCached() throws {
        let dir = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let broken = KernelProgram(name: "broken.cu", source: "extern \"C\" __global__ void fv_broken(float* x) { x[0] = nope; }",
                                   kernels: ["fv_broken"])
        let nvrtc = try NVRTC(directories: KernelCompilationTests.directories)
        #expect(throws: CUDAError.self) { _ = try KernelCache(directory: dir).ptx(for: broken, architecture: "sm_90", nvrtc: nvrtc) }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty ?? true)
    }

    @Test func directoryFollowsTheEnvironment() {
        #expect(KernelCache.defaultDirectory(environment: ["FASTVIM_CUDA_CACHE": "/a", "XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/a")
        #expect(KernelCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"]) == "/x/fastvim/cuda")
        #expect(KernelCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/h"]) == "/h/.cache/fastvim/cuda")
        #expect(KernelCache.defaultDirectory(environment: ["HOME": "/h"]) == "/h/.cache/fastvim/cuda")
        #expect(KernelCache(directory: "/explicit", environment: ["FASTVIM_CUDA_CACHE": "/a"]).directory == "/explicit")
    }

    @Test func fnv1a64MatchesTheReferenceVectors() {
        // From the FNV reference test suite (Landon Curt Noll's fnv test vectors).
        #expect(KernelCache.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(KernelCache.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(KernelCache.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }
}
