import CDNNL
import COpenBLAS

/// The library behind every sgemm of the CPU engine. oneDNN's JIT sgemm measured 7.5% more
/// images/s in medians for FastVim-T at 224 px, batch 8, on an AVX-512 box, and even with
/// both libraries held to AVX2 (docs/BENCHMARKS.md, issue 20); OpenBLAS stays selectable for
/// side-by-side runs and for machines where it wins.
public enum GemmLibrary: String, CaseIterable, Sendable {
    case onednn, openblas

    nonisolated(unsafe) private static var selected = GemmLibrary.onednn

    /// The library the engine's GEMMs run on now.
    public static var current: GemmLibrary { selected }

    /// Call before running models; not thread-safe against concurrent forward passes.
    public static func select(_ library: GemmLibrary) { selected = library }

    public var displayName: String { self == .onednn ? "oneDNN" : "OpenBLAS" }
}

/// out (m, n) = a (m, k) · bᵀ, with b stored (n, k) as PyTorch stores Linear weights.
/// Leading dimensions allow reading column slices of wider buffers (x and z of in_proj).
/// Rows of `out` are split across the engine's threads, each a single-threaded sgemm (inside
/// a task of a parallel loop, one sgemm on that task's thread).
func gemmNT(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    m: Int, n: Int, k: Int, accumulate: Bool = false, library: GemmLibrary = .current
) {
    gemm(out, ldOut: ldOut, a, lda: lda, b, ldb: ldb, transposeB: true, m: m, n: n, k: k, accumulate: accumulate, library: library)
}

/// out (m, n) = a (m, k) · b, with b stored (k, n): how the engine keeps in_proj's and
/// out_proj's weights (transposed at load). OpenBLAS runs this layout a few percent faster
/// on their per-image shapes (`tools/compare/gemm_layout.c`).
func gemmNN(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    m: Int, n: Int, k: Int, library: GemmLibrary = .current
) {
    gemm(out, ldOut: ldOut, a, lda: lda, b, ldb: ldb, transposeB: false, m: m, n: n, k: k, accumulate: false, library: library)
}

private func gemm(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    transposeB: Bool, m: Int, n: Int, k: Int, accumulate: Bool, library: GemmLibrary
) {
    guard m > 0, n > 0 else { return }
    // Below ~32 rows per task the split costs more than it saves.
    Parallel.ranges(m, grain: 32) { rows in
        let c = out + rows.lowerBound * ldOut
        let rowsA = a + rows.lowerBound * lda
        switch library {
        case .onednn:
            // oneDNN runs on OpenMP: each of the engine's threads asks for one OpenMP thread
            // (a per-thread setting in libgomp), so no OpenMP team is started beside our pool.
            omp_set_num_threads(1)
            let status = dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")), Int64(rows.count),
                                    Int64(n), Int64(k), 1, rowsA, Int64(lda), b, Int64(ldb), accumulate ? 1 : 0, c, Int64(ldOut))
            // It fails on malformed dimensions (the engine's own: a bug, not an input) or when it
            // cannot allocate its packing buffers; either way the pass cannot go on.
            precondition(status == dnnl_success, "dnnl_sgemm failed (\(status.rawValue))")
        case .openblas:
            // OpenBLAS clears C in its own loop when beta is 0 (sgemm_beta, 3.6 to 3.9% of a
            // tiled 1024 px FastVim-T pass under perf); memset clears it in about half the
            // time, and beta 1 then skips that loop.
            if !accumulate {
                if ldOut == n { c.update(repeating: 0, count: rows.count * n) } else {
                    for r in 0 ..< rows.count { (c + r * ldOut).update(repeating: 0, count: n) }
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(rows.count), Int32(n),
                        Int32(k), 1, rowsA, Int32(lda), b, Int32(ldb), 1, c, Int32(ldOut))
        }
    }
}
