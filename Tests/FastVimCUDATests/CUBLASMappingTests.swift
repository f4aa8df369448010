@testable import FastVimCUDA
import Testing

/// The row-major GEMM the device asks for, run through the column-major call cuBLAS would
/// make of `CUBLAS.GemmNT` (operands, transposes, sizes, leading dimensions), here by a
/// loop written from the BLAS definition of sgemm; a swapped operand or leading dimension
/// that the field-by-field checks would miss shows as wrong numbers or an index out of range.
@Suite struct CUBLASMappingTests {
    /// Column-major C (m, n) = alpha · op(A) · op(B) + beta · C with op(X) = X or Xᵀ
    /// (CUBLAS_OP_N / CUBLAS_OP_T) and the argument checks cublasSgemm makes.
    static func sgemm(_ transA: Int32, _ transB: Int32, _ m: Int, _ n: Int, _ k: Int, alpha: Float,
                      _ A: [Float], _ lda: Int, _ B: [Float], _ ldb: Int, beta: Float, _ C: inout [Float], _ ldc: Int) {
        let aRows = transA == CUBLAS.opN ? m : k, bRows = transB == CUBLAS.opN ? k : n
        precondition(lda >= max(1, aRows) && ldb >= max(1, bRows) && ldc >= max(1, m), "CUBLAS_STATUS_INVALID_VALUE")
        for j in 0 ..< n {
            for i in 0 ..< m {
                var sum: Float = 0
                for l in 0 ..< k {
                    let a = transA == CUBLAS.opN ? A[i + l * lda] : A[l + i * lda]
                    let b = transB == CUBLAS.opN ? B[l + j * ldb] : B[j + l * ldb]
                    sum += a * b
                }
                C[i + j * ldc] = alpha * sum + (beta == 0 ? 0 : beta * C[i + j * ldc])
            }
        }
    }

    // (m, n, k, lda, ldb, ldOut): square, padded rows of every operand, a view into a wider
    // buffer (in_proj's x half), one row, one column, k = 1.
    @Test(arguments: [(5, 7, 3, 3, 3, 7), (4, 6, 5, 9, 8, 11), (3, 2, 4, 8, 4, 2), (1, 5, 6, 6, 6, 5), (6, 1, 2, 2, 2, 1),
                      (3, 4, 1, 1, 1, 4)], [false, true])
    func rowMajorResultThroughTheColumnMajorCall(_ shape: (Int, Int, Int, Int, Int, Int), _ accumulate: Bool) {
        let (m, n, k, lda, ldb, ldOut) = shape
        // Exactly as long as the last row needs: reading past the end traps.
        let a = (0 ..< (m - 1) * lda + k).map { Float(($0 * 7 + 3) % 11) - 5 }
        let b = (0 ..< (n - 1) * ldb + k).map { Float(($0 * 5 + 1) % 13) - 6 }
        let initial = (0 ..< (m - 1) * ldOut + n).map { Float($0 % 4) + 0.5 }

        var expected = initial
        for i in 0 ..< m {
            for j in 0 ..< n {
                let dot = (0 ..< k).reduce(Float(0)) { $0 + a[i * lda + $1] * b[j * ldb + $1] }
                expected[i * ldOut + j] = dot + (accumulate ? initial[i * ldOut + j] : 0)
            }
        }

        let g = CUBLAS.GemmNT(m: m, n: n, k: k, lda: lda, ldb: ldb, ldOut: ldOut)
        let (A, B) = g.operands(a: a, b: b)
        var out = initial
        Self.sgemm(g.transA, g.transB, Int(g.m), Int(g.n), Int(g.k), alpha: 1, A, Int(g.lda), B, Int(g.ldb),
                   beta: accumulate ? 1 : 0, &out, Int(g.ldc))
        // Integers: the sums are exact whatever the order; padding between rows is untouched.
        #expect(out == expected)
    }
}
