/// The SSM's parameter projections, written by hand because their shapes are where a BLAS
/// call costs more than its arithmetic: x_proj's output is R + 2N wide (44 for the tiny
/// models) and dt_proj's inner dimension is R (12). OpenBLAS packs both operands on every
/// call; on FastVim's pooled rows (14 per image at 224 px) that packing and the call itself
/// were most of the stage's time (see docs/BENCHMARKS.md, issue 20).

/// out (M, N) = x (M, K) · w (N, K)ᵀ for a narrow N: dot products of rows, two rows of x
/// against four rows of w at a time, so each load of x serves four sums and each load of w two.
func projectRows(_ out: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldx: Int,
                 _ w: UnsafePointer<Float>, m: Int, n: Int, k: Int) {
    let vectorEnd = k - k % vectorLanes
    @inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
        var acc = FloatVector(repeating: 0)
        var c = 0
        while c < vectorEnd {
            acc = acc.mulAdd(loadV(a + c), loadV(b + c))
            c += vectorLanes
        }
        var sum = horizontalSum(acc)
        while c < k {
            sum = sum.mulAdd(a[c], b[c])
            c += 1
        }
        return sum
    }
    var i = 0
    while i + 2 <= m {
        let x0 = x + i * ldx, x1 = x0 + ldx
        var j = 0
        while j + 4 <= n {
            let w0 = w + j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k
            var (a00, a01, a02, a03) = (FloatVector(), FloatVector(), FloatVector(), FloatVector())
            var (a10, a11, a12, a13) = (FloatVector(), FloatVector(), FloatVector(), FloatVector())
            var c = 0
            while c < vectorEnd {
                let (u0, u1) = (loadV(x0 + c), loadV(x1 + c))
                let (v0, v1, v2, v3) = (loadV(w0 + c), loadV(w1 + c), loadV(w2 + c), loadV(w3 + c))
                a00 = a00.mulAdd(u0, v0); a01 = a01.mulAdd(u0, v1)
                a02 = a02.mulAdd(u0, v2); a03 = a03.mulAdd(u0, v3)
                a10 = a10.mulAdd(u1, v0); a11 = a11.mulAdd(u1, v1)
                a12 = a12.mulAdd(u1, v2); a13 = a13.mulAdd(u1, v3)
                c += vectorLanes
            }
            var sums = SIMD8<Float>(horizontalSum(a00), horizontalSum(a01), horizontalSum(a02), horizontalSum(a03),
                                    horizontalSum(a10), horizontalSum(a11), horizontalSum(a12), horizontalSum(a13))
            while c < k {
                for q in 0 ..< 4 {
                    sums[q] = sums[q].mulAdd(x0[c], w[(j + q) * k + c])
                    sums[4 + q] = sums[4 + q].mulAdd(x1[c], w[(j + q) * k + c])
                }
                c += 1
            }
            for q in 0 ..< 4 {
                out[i * ldOut + j + q] = sums[q]
                out[(i + 1) * ldOut + j + q] = sums[4 + q]
            }
            j += 4
        }
        while j < n {
            out[i * ldOut + j] = dot(x0, w + j * k)
            out[(i + 1) * ldOut + j] = dot(x1, w + j * k)
            j += 1
        }
        i += 2
    }
    if i < m {
        for j in 0 ..< n { out[i * ldOut + j] = dot(x + i * ldx, w + j * k) }
    }
}

/// δ (M, E) = softplus(dt (M, R) · dt_projᵀ + bias), with dt_proj given transposed, (R, E):
/// each output row is R scaled rows of the weight, a vector of channels at a time, and the
/// bias and softplus are applied while the sum is in registers.
func deltaRows(_ delta: UnsafeMutablePointer<Float>, ldDelta: Int, _ dt: UnsafePointer<Float>, ldDt: Int,
               dtProjT: UnsafePointer<Float>, bias: UnsafePointer<Float>, m: Int, e: Int, r: Int) {
    let vectorEnd = e - e % vectorLanes
    for g in 0 ..< m {
        let row = dt + g * ldDt, out = delta + g * ldDelta
        var c = 0
        while c < vectorEnd {
            var acc = FloatVector(repeating: 0)
            for j in 0 ..< r { acc = acc.mulAdd(FloatVector(repeating: row[j]), loadV(dtProjT + j * e + c)) }
            storeV(softplusV(acc + loadV(bias + c)), out + c)
            c += vectorLanes
        }
        while c < e {
            var acc: Float = 0
            for j in 0 ..< r { acc = acc.mulAdd(row[j], dtProjT[j * e + c]) }
            out[c] = softplus(acc + bias[c])
            c += 1
        }
    }
}
