/// The SSM's parameter projections, written by hand because their shapes are where a BLAS
/// call costs more than its arithmetic: x_proj's output is R + 2N wide (44 for the tiny
/// models) and dt_proj's inner dimension is R (12). OpenBLAS packs both operands on every
/// call; on FastVim's pooled rows (14 per image at 224 px) that packing and the call itself
/// were most of the stage's time (see docs/BENCHMARKS.md, issue 20).

/// out (M, N) = x (M, K) · w (N, K)ᵀ for a narrow N, from `wT`, w transposed with rows
/// `ldw` apart (a multiple of the lanes, zero past N: `paddedTranspose`). Four rows of x
/// against three vectors of columns at a time: each step of K broadcasts four values of x and
/// loads three vectors of wT for twelve independent multiply-adds. Dot products of rows of x
/// and w, which this replaced, ended every output in a horizontal sum (with `deltaRows`'
/// side-by-side sums, FastVim-T's parameter projection went from 0.129 to 0.072 ms per
/// block at 224 px; docs/BENCHMARKS.md, issue 20).
func projectRows(_ out: UnsafeMutablePointer<Float>, ldOut: Int, _ x: UnsafePointer<Float>, ldx: Int,
                 _ wT: UnsafePointer<Float>, ldw: Int, m: Int, n: Int, k: Int) {
    precondition(ldw % vectorLanes == 0 && ldw >= n)
    // Rows past the last are computed from the last one again and not stored.
    @inline(__always) func rows(_ i: Int) -> (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) {
        (x + min(i, m - 1) * ldx, x + min(i + 1, m - 1) * ldx, x + min(i + 2, m - 1) * ldx, x + min(i + 3, m - 1) * ldx)
    }
    // A vector of columns from j on, of row i + q, where that row and those columns exist.
    @inline(__always) func store(_ v: FloatVector, row q: Int, _ i: Int, _ j: Int) {
        guard i + q < m, j < n else { return }
        let o = out + (i + q) * ldOut + j
        if j + vectorLanes <= n { storeV(v, o) } else { for l in 0 ..< n - j { o[l] = v[l] } }
    }
    var j = 0
    while j + 3 * vectorLanes <= ldw {
        var i = 0
        while i < m {
            let (x0, x1, x2, x3) = rows(i)
            var (a00, a01, a02) = (FloatVector(), FloatVector(), FloatVector())
            var (a10, a11, a12) = (FloatVector(), FloatVector(), FloatVector())
            var (a20, a21, a22) = (FloatVector(), FloatVector(), FloatVector())
            var (a30, a31, a32) = (FloatVector(), FloatVector(), FloatVector())
            for c in 0 ..< k {
                let w = wT + c * ldw + j
                let (w0, w1, w2) = (loadV(w), loadV(w + vectorLanes), loadV(w + 2 * vectorLanes))
                let (u0, u1) = (FloatVector(repeating: x0[c]), FloatVector(repeating: x1[c]))
                let (u2, u3) = (FloatVector(repeating: x2[c]), FloatVector(repeating: x3[c]))
                a00 = a00.mulAdd(u0, w0); a01 = a01.mulAdd(u0, w1); a02 = a02.mulAdd(u0, w2)
                a10 = a10.mulAdd(u1, w0); a11 = a11.mulAdd(u1, w1); a12 = a12.mulAdd(u1, w2)
                a20 = a20.mulAdd(u2, w0); a21 = a21.mulAdd(u2, w1); a22 = a22.mulAdd(u2, w2)
                a30 = a30.mulAdd(u3, w0); a31 = a31.mulAdd(u3, w1); a32 = a32.mulAdd(u3, w2)
            }
            // Stored one by one: an array of the sums here cost an allocation per four rows.
            @inline(__always) func storeRow(_ q: Int, _ v0: FloatVector, _ v1: FloatVector, _ v2: FloatVector) {
                store(v0, row: q, i, j)
                store(v1, row: q, i, j + vectorLanes)
                store(v2, row: q, i, j + 2 * vectorLanes)
            }
            storeRow(0, a00, a01, a02)
            storeRow(1, a10, a11, a12)
            storeRow(2, a20, a21, a22)
            storeRow(3, a30, a31, a32)
            i += 4
        }
        j += 3 * vectorLanes
    }
    // The last one or two vectors of columns, one at a time.
    while j < ldw {
        var i = 0
        while i < m {
            let (x0, x1, x2, x3) = rows(i)
            var (a0, a1, a2, a3) = (FloatVector(), FloatVector(), FloatVector(), FloatVector())
            for c in 0 ..< k {
                let w = loadV(wT + c * ldw + j)
                a0 = a0.mulAdd(FloatVector(repeating: x0[c]), w)
                a1 = a1.mulAdd(FloatVector(repeating: x1[c]), w)
                a2 = a2.mulAdd(FloatVector(repeating: x2[c]), w)
                a3 = a3.mulAdd(FloatVector(repeating: x3[c]), w)
            }
            store(a0, row: 0, i, j)
            store(a1, row: 1, i, j)
            store(a2, row: 2, i, j)
            store(a3, row: 3, i, j)
            i += 4
        }
        j += vectorLanes
    }
}

/// w (N, K) transposed to (K, ldw), ldw = N rounded up to the lanes, zero past N: the layout
/// `projectRows` reads.
func paddedTranspose(_ w: UnsafePointer<Float>, rows n: Int, cols k: Int, into out: UnsafeMutablePointer<Float>) {
    let ldw = paddedWidth(n)
    for c in 0 ..< k { for j in 0 ..< ldw { out[c * ldw + j] = j < n ? w[j * k + c] : 0 } }
}

/// N rounded up to a multiple of the lanes.
func paddedWidth(_ n: Int) -> Int { (n + vectorLanes - 1) / vectorLanes * vectorLanes }

/// δ (M, E) = softplus(dt (M, R) · dt_projᵀ + bias), with dt_proj given transposed, (R, E):
/// each output row is R scaled rows of the weight, four vectors of channels at a time, and
/// the bias added; softplus then runs over the row. Four sums side by side because each is
/// a chain of R dependent multiply-adds, and one at a time waited on the FMA's latency;
/// softplus in a pass of its own because inside that loop its constants crowded the four
/// sums out of the registers (slower than one sum at a time).
func deltaRows(_ delta: UnsafeMutablePointer<Float>, ldDelta: Int, _ dt: UnsafePointer<Float>, ldDt: Int,
               dtProjT: UnsafePointer<Float>, bias: UnsafePointer<Float>, m: Int, e: Int, r: Int) {
    let vectorEnd = e - e % vectorLanes, blockEnd = e - e % (4 * vectorLanes)
    for g in 0 ..< m {
        let row = dt + g * ldDt, out = delta + g * ldDelta
        var c = 0
        while c < blockEnd {
            var (a0, a1, a2, a3) = (FloatVector(), FloatVector(), FloatVector(), FloatVector())
            for j in 0 ..< r {
                let x = FloatVector(repeating: row[j]), w = dtProjT + j * e + c
                a0 = a0.mulAdd(x, loadV(w))
                a1 = a1.mulAdd(x, loadV(w + vectorLanes))
                a2 = a2.mulAdd(x, loadV(w + 2 * vectorLanes))
                a3 = a3.mulAdd(x, loadV(w + 3 * vectorLanes))
            }
            storeV(a0 + loadV(bias + c), out + c)
            storeV(a1 + loadV(bias + c + vectorLanes), out + c + vectorLanes)
            storeV(a2 + loadV(bias + c + 2 * vectorLanes), out + c + 2 * vectorLanes)
            storeV(a3 + loadV(bias + c + 3 * vectorLanes), out + c + 3 * vectorLanes)
            c += 4 * vectorLanes
        }
        var v = 0
        while v < c {
            storeV(softplusV(loadV(out + v)), out + v)
            v += vectorLanes
        }
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
