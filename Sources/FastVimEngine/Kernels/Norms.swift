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
        while i + 8 <= d {
            store8(load8(xr + i) * scale * load8(weight + i), o + i)
            i += 8
        }
        while i < d {
            o[i] = xr[i] * scale * weight[i]
            i += 1
        }
    }
}

/// Σ x² over `n` values in two sets of eight lanes: a scalar loop runs one dependent add at a
/// time (the compiler may not reorder float sums), and one set waits on its own latency.
@inline(__always)
func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var l0 = SIMD8<Float>(repeating: 0), l1 = l0
    var i = 0
    while i + 16 <= n {
        let v0 = load8(x + i), v1 = load8(x + i + 8)
        l0 = l0.addingProduct(v0, v0)
        l1 = l1.addingProduct(v1, v1)
        i += 16
    }
    while i + 8 <= n {
        let v = load8(x + i)
        l0 = l0.addingProduct(v, v)
        i += 8
    }
    var total = (l0 + l1).sum()
    while i < n {
        total += x[i] * x[i]
        i += 1
    }
    return total
}

/// Σ x over `n` values in eight lanes.
@inline(__always)
func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var lanes = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        lanes += load8(x + i)
        i += 8
    }
    var total = lanes.sum()
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

/// LayerNorm over one row of width `n` in place, with affine weight and bias.
@inline(__always)
func layerNormRow(_ x: UnsafeMutablePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                  n: Int, eps: Float = 1e-5) {
    let mean = sum(x, n) / Float(n)
    var lanes = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        let d = load8(x + i) - mean
        lanes += d * d
        i += 8
    }
    var variance = lanes.sum()
    while i < n {
        let d = x[i] - mean
        variance += d * d
        i += 1
    }
    let inv = 1 / sqrtf(variance / Float(n) + eps)
    i = 0
    while i + 8 <= n {
        store8((load8(x + i) - mean) * inv * load8(weight + i) + load8(bias + i), x + i)
        i += 8
    }
    while i < n {
        x[i] = (x[i] - mean) * inv * weight[i] + bias[i]
        i += 1
    }
}
