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
        var ss: Float = 0
        for i in 0 ..< d { ss += xr[i] * xr[i] }
        let scale = 1 / sqrtf(ss / Float(d) + eps)
        for i in 0 ..< d { o[i] = xr[i] * scale * weight[i] }
    }
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
    var mean: Float = 0
    for i in 0 ..< n { mean += x[i] }
    mean /= Float(n)
    var variance: Float = 0
    for i in 0 ..< n {
        let d = x[i] - mean
        variance += d * d
    }
    let inv = 1 / sqrtf(variance / Float(n) + eps)
    for i in 0 ..< n { x[i] = (x[i] - mean) * inv * weight[i] + bias[i] }
}
