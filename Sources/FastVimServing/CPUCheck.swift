import Foundation

/// The instructions this binary's kernels were built for (`FASTVIM_CPU`, Package.swift),
/// checked against the CPU before any kernel runs: a binary built on an AVX-512 machine and
/// copied to one without would otherwise stop at its first vector loop with SIGILL.
/// This module is compiled without those instructions (no `-target-cpu`), so the check
/// itself runs anywhere.
public enum CPUCheck {
    /// /proc/cpuinfo flag names this build needs (empty for a baseline build).
    public static var required: [String] {
        var flags: [String] = []
        #if FASTVIM_NEEDS_AVX2
        flags += ["avx2", "fma"]
        #endif
        #if FASTVIM_NEEDS_AVX512
        flags += ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        #endif
        return flags
    }

    /// The required flags /proc/cpuinfo does not list (none where it cannot be read).
    public static func missing(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> [String] {
        guard !required.isEmpty, let cpuinfo,
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        let present = Set(line.split(separator: " ").map(String.init))
        return required.filter { !present.contains($0) }
    }

    public static func exitIfUnsupported() {
        let missing = missing()
        guard !missing.isEmpty else { return }
        FileHandle.standardError.write(Data("""
            fastvim: this binary was built for CPUs with \(required.joined(separator: ", ")), and this CPU lacks \
            \(missing.joined(separator: ", ")). Rebuild on this machine, or with FASTVIM_CPU=avx2 (or baseline) \
            for a binary that runs on more machines (README, "CPU features").

            """.utf8))
        exit(78)  // EX_CONFIG
    }
}
