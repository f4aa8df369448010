import COpenBLAS

/// out (m, n) = a (m, k) · bᵀ, with b stored (n, k) as PyTorch stores Linear weights.
/// Leading dimensions allow reading column slices of wider buffers (x and z of in_proj).
/// Rows of `out` are split across the engine's threads, each a single-threaded sgemm (inside
/// a task of a parallel loop, one sgemm on that task's thread).
func gemmNT(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    m: Int, n: Int, k: Int, accumulate: Bool = false
) {
    gemm(out, ldOut: ldOut, a, lda: lda, b, ldb: ldb, transposeB: true, m: m, n: n, k: k, accumulate: accumulate)
}

/// out (m, n) = a (m, k) · b, with b stored (k, n): how the engine keeps in_proj's and
/// out_proj's weights (transposed at load). OpenBLAS runs this layout a few percent faster
/// on their per-image shapes (`tools/compare/gemm_layout.c`).
func gemmNN(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    m: Int, n: Int, k: Int
) {
    gemm(out, ldOut: ldOut, a, lda: lda, b, ldb: ldb, transposeB: false, m: m, n: n, k: k, accumulate: false)
}

private func gemm(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int, _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    transposeB: Bool, m: Int, n: Int, k: Int, accumulate: Bool
) {
    guard m > 0, n > 0 else { return }
    // Below ~32 rows per task the split costs more than it saves.
    Parallel.ranges(m, grain: 32) { rows in
        let c = out + rows.lowerBound * ldOut
        // OpenBLAS clears C in its own loop when beta is 0 (sgemm_beta, 3.6 to 3.9% of a
        // tiled 1024 px FastVim-T pass under perf); memset clears it in about half the time,
        // and beta 1 then skips that loop.
        if !accumulate {
            if ldOut == n { c.update(repeating: 0, count: rows.count * n) } else {
                for r in 0 ..< rows.count { (c + r * ldOut).update(repeating: 0, count: n) }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(rows.count), Int32(n), Int32(k),
                    1, a + rows.lowerBound * lda, Int32(lda), b, Int32(ldb), 1, c, Int32(ldOut))
    }
}
