#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RMSNorm over rows of width `d`: out = x * rsqrt(mean(x²) + eps) * weight.
func rmsNorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
             rows: Int, d: Int, eps: Float = 1e-5) {
    for r in 0 ..< rows {
        let xr = x + r * d, o = out + r * d
        let scale = 1 / sqrtf(sumOfSquares(xr, d) / Float(d) + eps)
        var i = 0
        while i + vectorLanes <= d {
            storeV(loadV(xr + i) * scale * loadV(weight + i), o + i)
            i += vectorLanes
        }
        while i < d {
            o[i] = xr[i] * scale * weight[i]
            i += 1
        }
    }
}

/// Σ x² over `n` values in two vectors of lanes: a scalar loop runs one dependent add at a
/// time (the compiler may not reorder float sums), and one set waits on its own latency.
@inline(__always)
func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var l0 = FloatVector(repeating: 0), l1 = l0
    var i = 0
    while i + 2 * vectorLanes <= n {
        let v0 = loadV(x + i), v1 = loadV(x + i + vectorLanes)
        l0 = l0.mulAdd(v0, v0)
        l1 = l1.mulAdd(v1, v1)
        i += 2 * vectorLanes
    }
    while i + vectorLanes <= n {
        let v = loadV(x + i)
        l0 = l0.mulAdd(v, v)
        i += vectorLanes
    }
    var total = horizontalSum(l0 + l1)
    while i < n {
        total += x[i] * x[i]
        i += 1
    }
    return total
}

/// Σ x over `n` values in one vector of lanes.
@inline(__always)
func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = FloatVector(repeating: 0)
    var i = 0
    while i + vectorLanes <= n {
        lanes += loadV(x + i)
        i += vectorLanes
    }
    var total = horizontalSum(lanes)
    while i < n {
        total += x[i]
        i += 1
    }
    return total
}

/// residual += hidden, then out = RMSNorm(residual): the block's "add then norm".
func addRMSNorm(_ out: UnsafeMutablePointer<Float>, residual: UnsafeMutablePointer<Float>, hidden: UnsafePointer<Float>,
                weight: UnsafePointer<Float>, rows: Int, d: Int, eps: Float = 1e-5) {
    for i in 0 ..< rows * d { residual[i] += hidden[i] }
    rmsNorm(out, residual, weight: weight, rows: rows, d: d, eps: eps)
}

/// A row's mean and 1/sqrt(variance + eps) for LayerNorm, given Σ x: the variance from a
/// second pass over x - mean, as the reference computes it, rather than from Σ x².
@inline(__always)
func layerNormMoments(_ x: UnsafePointer<Float>, sum: Float, n: Int, eps: Float) -> (mean: Float, inv: Float) {
    let mean = sum / Float(n)
    var lanes = FloatVector(repeating: 0)
    var i = 0
    while i + vectorLanes <= n {
        let d = loadV(x + i) - mean
        lanes += d * d
        i += vectorLanes
    }
    var variance = horizontalSum(lanes)
    while i < n {
        let d = x[i] - mean
        variance += d * d
        i += 1
    }
    return (mean, 1 / sqrtf(variance / Float(n) + eps))
}

/// LayerNorm over one row of width `n` in place, with affine weight and bias.
@inline(__always)
func layerNormRow(_ x: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  n: Int, eps: Float = 1e-5) {
    let (mean, inv) = layerNormMoments(x, sum: sum(x, n), n: n, eps: eps)
    var i = 0
    while i + vectorLanes <= n {
        storeV((loadV(x + i) - mean) * inv * loadV(weight + i) + loadV(bias + i), x + i)
        i += vectorLanes
    }
    while i < n {
        x[i] = (x[i] - mean) * inv * weight[i] + bias[i]
        i += 1
    }
}

/// x = LayerNorm(x) ⊙ SiLU(gate) over one row of width `n`, or x ⊙ SiLU(gate) without a
/// norm; `sum` is Σ x, taken by the pass that wrote the row. The same arithmetic as
/// `layerNormRow` followed by the gate, in two passes instead of four.
@inline(__always)
func normAndGateRow(_ x: UnsafeMutablePointer<Float>, sum: Float, layerNorm: (weight: UnsafePointer<Float>, bias: UnsafePointer<Float>)?,
                    gate z: UnsafePointer<Float>, n: Int, eps: Float = 1e-5) {
    let vectorEnd = n - n % vectorLanes
    guard let (weight, bias) = layerNorm else {
        var i = 0
        while i < vectorEnd {
            storeV(loadV(x + i) * siluV(loadV(z + i)), x + i)
            i += vectorLanes
        }
        while i < n {
            x[i] *= silu(z[i])
            i += 1
        }
        return
    }
    let (mean, inv) = layerNormMoments(x, sum: sum, n: n, eps: eps)
    var i = 0
    while i < vectorEnd {
        let normed = (loadV(x + i) - mean) * inv * loadV(weight + i) + loadV(bias + i)
        storeV(normed * siluV(loadV(z + i)), x + i)
        i += vectorLanes
    }
    while i < n {
        x[i] = ((x[i] - mean) * inv * weight[i] + bias[i]) * silu(z[i])
        i += 1
    }
}
