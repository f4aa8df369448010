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

/// Where (channel, state) lives in the scan's layout of A and of its state: channels in
/// groups of `vectorLanes`, each group's (N, lanes) block contiguous, then the last
/// `e % vectorLanes` channels as one (N, e % lanes) block. The inner loop walks one group's
/// states: 512 (AVX2) or 1024 contiguous bytes of A
/// and of the state for N = 16, where an (N, E) layout read N rows 1.5 KB apart for every
/// group of channels and ran from L2 instead of L1.
@inline(__always)
func scanIndex(channel c: Int, state i: Int, channels e: Int, states n: Int) -> Int {
    let vectorEnd = e - e % vectorLanes
    return c < vectorEnd ? ((c / vectorLanes) * n + i) * vectorLanes + c % vectorLanes : vectorEnd * n + i * (e - vectorEnd) + (c - vectorEnd)
}

/// A = -exp(A_log) as (E, N) rows into the scan's layout (`scanIndex`).
func scanLayout(_ a: UnsafePointer<Float>, channels e: Int, states n: Int, into out: UnsafeMutablePointer<Float>) {
    for c in 0 ..< e { for i in 0 ..< n { out[scanIndex(channel: c, state: i, channels: e, states: n)] = a[c * n + i] } }
}

/// The same recurrence with a vector of channels (`vectorLanes`) per lane group. `aBlocked` is A in the
/// scan's layout (`scanIndex`) for this slice of channels (a slice starts at a multiple of
/// `vectorLanes`: its A is at c0 · N), and `scratch` holds the state in the same layout.
func selectiveScan(_ y: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, delta: UnsafePointer<Float>,
                   aBlocked: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>,
                   scratch: UnsafeMutablePointer<Float>, _ s: ScanShape) {
    let e = s.channels, n = s.state, ld = s.ld
    scratch.update(repeating: 0, count: n * e)
    let vectorEnd = e - e % vectorLanes, tail = e - vectorEnd
    // A group's N decays exp(δ·A) are computed first, into L1, then the state updates read
    // them: with the exp inside the update loop the compiler shuffled its constants through
    // registers on every iteration, and the scan took about 15% more cycles (perf, Vim-T).
    let decayBuffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * vectorLanes)
    defer { decayBuffer.deallocate() }
    let decay = decayBuffer.baseAddress!
    for step in 0 ..< s.steps {
        let g = s.reverse ? s.steps - 1 - step : step
        let bg = b + g * s.ldBC, cg = c + g * s.ldBC
        let dg = delta + g * ld, ug = u + g * ld, yg = y + g * ld
        var ch = 0
        while ch < vectorEnd {
            let d = loadV(dg + ch)
            let du = d * loadV(ug + ch)
            var acc = FloatVector(repeating: 0)
            let ap = aBlocked + ch * n, sp = scratch + ch * n
            for i in 0 ..< n { storeV(expV(d * loadV(ap + i * vectorLanes)), decay + i * vectorLanes) }
            for i in 0 ..< n {
                let st = (du * bg[i]).mulAdd(loadV(decay + i * vectorLanes), loadV(sp + i * vectorLanes))
                storeV(st, sp + i * vectorLanes)
                acc = acc.mulAdd(st, FloatVector(repeating: cg[i]))
            }
            storeV(acc, yg + ch)
            ch += vectorLanes
        }
        let at = aBlocked + vectorEnd * n, st = scratch + vectorEnd * n
        while ch < e {
            let d = dg[ch], du = d * ug[ch], k = ch - vectorEnd
            var acc: Float = 0
            for i in 0 ..< n {
                let v = expf(d * at[i * tail + k]) * st[i * tail + k] + du * bg[i]
                st[i * tail + k] = v
                acc += v * cg[i]
            }
            yg[ch] = acc
            ch += 1
        }
    }
}
