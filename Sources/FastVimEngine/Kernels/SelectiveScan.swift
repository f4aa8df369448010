#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The selective scan of one sequence of `steps` tokens, mamba_ssm's reference recurrence:
///   s = exp(δ[g] · A) ⊙ s + δ[g] · B[g] · u[g];   y[g] = Σ_n s[:, n] · C[g, n]
/// over a slice of `channels` channels. u, δ and y are (steps, ·) with row stride `ld`;
/// B and C are rows of width N at stride `ldBC` (the x_proj output). `reverse` runs g from
/// the last step down, which is the backward branch of a flipped sequence in original order.
struct ScanShape {
    let steps: Int
    let channels: Int
    let state: Int
    let ldBC: Int
    let reverse: Bool
    /// Row stride of u, δ, y, and of the (N, ·) layouts of Aᵀ and the state.
    var ld: Int

    init(steps: Int, channels: Int, state: Int, ldBC: Int, reverse: Bool, ld: Int? = nil) {
        self.steps = steps
        self.channels = channels
        self.state = state
        self.ldBC = ldBC
        self.reverse = reverse
        self.ld = ld ?? channels
    }
}

/// Plain loops with libm's exp: the test oracle for `selectiveScan`.
/// `a` is A = -exp(A_log), (E, N), starting at the slice's first channel.
func selectiveScanReference(_ y: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, delta: UnsafePointer<Float>,
                            a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>, _ s: ScanShape) {
    let e = s.channels, n = s.state
    var state = [Float](repeating: 0, count: n)
    for ch in 0 ..< e {
        for i in 0 ..< n { state[i] = 0 }
        for step in 0 ..< s.steps {
            let g = s.reverse ? s.steps - 1 - step : step
            let d = delta[g * s.ld + ch], x = u[g * s.ld + ch]
            var acc: Float = 0
            for i in 0 ..< n {
                state[i] = expf(d * a[ch * n + i]) * state[i] + d * b[g * s.ldBC + i] * x
                acc += state[i] * c[g * s.ldBC + i]
            }
            y[g * s.ld + ch] = acc
        }
    }
}

/// The same recurrence with eight channels per SIMD lane group. `aT` is A transposed to
/// (N, ·) and `scratch` holds the (N, ·) state, both with row stride `ld`.
func selectiveScan(_ y: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, delta: UnsafePointer<Float>,
                   aT: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>,
                   scratch: UnsafeMutablePointer<Float>, _ s: ScanShape) {
    let e = s.channels, n = s.state, ld = s.ld
    for i in 0 ..< n { (scratch + i * ld).update(repeating: 0, count: e) }
    let vectorEnd = e - e % 8
    for step in 0 ..< s.steps {
        let g = s.reverse ? s.steps - 1 - step : step
        let bg = b + g * s.ldBC, cg = c + g * s.ldBC
        let dg = delta + g * ld, ug = u + g * ld, yg = y + g * ld
        var ch = 0
        while ch < vectorEnd {
            let d = load8(dg + ch)
            let du = d * load8(ug + ch)
            var acc = SIMD8<Float>(repeating: 0)
            for i in 0 ..< n {
                let sp = scratch + i * ld + ch
                let st = (du * bg[i]).addingProduct(exp8(d * load8(aT + i * ld + ch)), load8(sp))
                store8(st, sp)
                acc = acc.addingProduct(st, SIMD8(repeating: cg[i]))
            }
            store8(acc, yg + ch)
            ch += 8
        }
        while ch < e {
            let d = dg[ch], du = d * ug[ch]
            var acc: Float = 0
            for i in 0 ..< n {
                let st = expf(d * aT[i * ld + ch]) * scratch[i * ld + ch] + du * bg[i]
                scratch[i * ld + ch] = st
                acc += st * cg[i]
            }
            yg[ch] = acc
            ch += 1
        }
    }
}
