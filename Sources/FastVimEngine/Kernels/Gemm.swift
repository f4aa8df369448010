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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(rows.count), Int32(n), Int32(k),
                    1, a + rows.lowerBound * lda, Int32(lda), b, Int32(ldb), accumulate ? 1 : 0,
                    out + rows.lowerBound * ldOut, Int32(ldOut))
    }
}
