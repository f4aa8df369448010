#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The selective scan of one sequence of `steps` tokens, mamba_ssm's reference recurrence:
///   s = exp(δ[g] · A) ⊙ s + δ[g] · B[g] · u[g];   y[g] = Σ_n s[:, n] · C[g, n]
/// u, δ and y are (steps, E); B and C are rows of width N at stride `ldBC` (the x_proj
/// output). `reverse` runs g from the last step down, which is the backward branch of a
/// flipped sequence expressed in original order.
struct ScanShape {
    let steps: Int
    let channels: Int
    let state: Int
    let ldBC: Int
    let reverse: Bool
}

/// Plain loops with libm's exp: the test oracle for `selectiveScan`.
/// `a` is A = -exp(A_log), (E, N).
func selectiveScanReference(_ y: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, delta: UnsafePointer<Float>,
                            a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>, _ s: ScanShape) {
    let e = s.channels, n = s.state
    var state = [Float](repeating: 0, count: n)
    for ch in 0 ..< e {
        for i in 0 ..< n { state[i] = 0 }
        for step in 0 ..< s.steps {
            let g = s.reverse ? s.steps - 1 - step : step
            let d = delta[g * e + ch], x = u[g * e + ch]
            var acc: Float = 0
            for i in 0 ..< n {
                state[i] = expf(d * a[ch * n + i]) * state[i] + d * b[g * s.ldBC + i] * x
                acc += state[i] * c[g * s.ldBC + i]
            }
            y[g * e + ch] = acc
        }
    }
}

/// The same recurrence with eight channels per SIMD lane group. `aT` is A transposed to
/// (N, E); `scratch` holds the (N, E) state.
func selectiveScan(_ y: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, delta: UnsafePointer<Float>,
                   aT: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>,
                   scratch: UnsafeMutablePointer<Float>, _ s: ScanShape) {
    let e = s.channels, n = s.state
    scratch.update(repeating: 0, count: n * e)
    let vectorEnd = e - e % 8
    for step in 0 ..< s.steps {
        let g = s.reverse ? s.steps - 1 - step : step
        let bg = b + g * s.ldBC, cg = c + g * s.ldBC
        let dg = delta + g * e, ug = u + g * e, yg = y + g * e
        var ch = 0
        while ch < vectorEnd {
            let d = load8(dg + ch)
            let du = d * load8(ug + ch)
            var acc = SIMD8<Float>(repeating: 0)
            for i in 0 ..< n {
                let sp = scratch + i * e + ch
                let st = exp8(d * load8(aT + i * e + ch)) * load8(sp) + du * bg[i]
                store8(st, sp)
                acc += st * cg[i]
            }
            store8(acc, yg + ch)
            ch += 8
        }
        while ch < e {
            let d = dg[ch], du = d * ug[ch]
            var acc: Float = 0
            for i in 0 ..< n {
                let st = expf(d * aT[i * e + ch]) * scratch[i * e + ch] + du * bg[i]
                scratch[i * e + ch] = st
                acc += st * cg[i]
            }
            yg[ch] = acc
            ch += 1
        }
    }
}
