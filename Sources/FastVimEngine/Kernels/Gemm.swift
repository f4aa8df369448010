import COpenBLAS

/// out (m, n) = a (m, k) · bᵀ, with b stored (n, k) as PyTorch stores Linear weights.
/// Leading dimensions allow reading column slices of wider buffers (x and z of in_proj).
@inline(__always)
func gemmNT(
    _ out: UnsafeMutablePointer<Float>, ldOut: Int,
    _ a: UnsafePointer<Float>, lda: Int,
    _ b: UnsafePointer<Float>, ldb: Int,
    m: Int, n: Int, k: Int, accumulate: Bool = false
) {
    guard m > 0, n > 0 else { return }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                1, a, Int32(lda), b, Int32(ldb), accumulate ? 1 : 0, out, Int32(ldOut))
}

/// OpenBLAS's own thread pool size; the server budgets it against the other workers.
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}
