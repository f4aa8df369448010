/// Depthwise causal convolution along the token axis followed by SiLU, over one sequence
/// and a slice of `channels` channels. x is (L, ·) with row stride `ldx` (the x half of
/// in_proj's output), out is (L, ·) with row stride `ldo`; `weightT` is the PyTorch
/// (E, 1, K) weight transposed to (K, E) with row stride `ldw`, so lanes run over channels.
/// Forward: out[t] = silu(bias + Σ_k w[k] · x[t - (K-1) + k]).
/// Reverse (the backward branch on the flipped sequence, written in original order):
/// out[t] = silu(bias + Σ_k w[k] · x[t + (K-1) - k]).
/// `tokens` limits the outputs to those tokens (the inputs still span the sequence).
/// The mixer calls `causalConvSiLUPair`, which leaves to this the tokens near either end
/// and widths other than 4.
func causalConvSiLU(_ out: UnsafeMutablePointer<Float>, ldo: Int, _ x: UnsafePointer<Float>, ldx: Int,
                    weightT: UnsafePointer<Float>, ldw: Int, bias: UnsafePointer<Float>,
                    length: Int, channels e: Int, width k: Int, reverse: Bool, tokens: Range<Int>? = nil) {
    let tokens = tokens ?? 0 ..< length
    let vectorEnd = e - e % vectorLanes
    // Tap j of token t reads token t + offset(j); taps outside the sequence read zero.
    let step = reverse ? -1 : 1
    let first = reverse ? k - 1 : -(k - 1)
    for t in tokens {
        let o = out + t * ldo
        let interior = t + first >= 0 && t + first < length && t + first + step * (k - 1) >= 0
            && t + first + step * (k - 1) < length
        var c = 0
        while c < vectorEnd {
            var acc = loadV(bias + c)
            if interior {
                var src = x + (t + first) * ldx + c
                for j in 0 ..< k {
                    acc = acc.mulAdd(loadV(weightT + j * ldw + c), loadV(src))
                    src += step * ldx
                }
            } else {
                for j in 0 ..< k {
                    let s = t + first + step * j
                    if s >= 0, s < length { acc += loadV(weightT + j * ldw + c) * loadV(x + s * ldx + c) }
                }
            }
            storeV(siluV(acc), o + c)
            c += vectorLanes
        }
        while c < e {
            var acc = bias[c]
            for j in 0 ..< k {
                let s = t + first + step * j
                if s >= 0, s < length { acc += weightT[j * ldw + c] * x[s * ldx + c] }
            }
            o[c] = silu(acc)
            c += 1
        }
    }
}

/// A direction's conv weights: `weightT` (K, E) with row stride `ldw`, and the bias (E).
struct ConvTaps {
    let weightT: UnsafePointer<Float>
    let bias: UnsafePointer<Float>
}

/// Both directions of a bidirectional mixer's conv + SiLU from one read of x: `outF` gets
/// the forward conv, `outB` the reverse one, the same values as two `causalConvSiLU` calls
/// (the same multiply-adds in the same order). Width 4, away from the sequence's ends, runs
/// four tokens at a time: ten rows of x serve both directions' four outputs each, with no
/// bounds test per row. The two single-direction passes it replaced read x twice and tested
/// every row against the sequence's ends (FastVim-T at 224 px, the conv stage: 0.230 ms per
/// block before, 0.216 after, medians of five; docs/BENCHMARKS.md, issue 20).
/// Other widths, and the tokens within three of either end, take `causalConvSiLU`.
func causalConvSiLUPair(_ outF: UnsafeMutablePointer<Float>, _ outB: UnsafeMutablePointer<Float>, ldo: Int,
                        _ x: UnsafePointer<Float>, ldx: Int, forward: ConvTaps, backward: ConvTaps, ldw: Int,
                        length: Int, channels e: Int, width k: Int, tokens: Range<Int>? = nil) {
    let tokens = tokens ?? 0 ..< length
    func edges(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        for (out, taps, reverse) in [(outF, forward, false), (outB, backward, true)] {
            causalConvSiLU(out, ldo: ldo, x, ldx: ldx, weightT: taps.weightT, ldw: ldw, bias: taps.bias, length: length,
                           channels: e, width: k, reverse: reverse, tokens: range)
        }
    }
    // Blocks t ..< t + 4 read rows t - 3 ... t + 6: all inside the sequence from t = 3 while t + 7 <= length.
    let first = min(max(tokens.lowerBound, 3), tokens.upperBound)
    let blocks = k == 4 ? max(0, min(tokens.upperBound, length - 3) - first) / 4 : 0
    let interiorEnd = first + 4 * blocks
    edges(tokens.lowerBound ..< (blocks > 0 ? first : tokens.upperBound))
    guard blocks > 0 else { return }
    let vectorEnd = e - e % vectorLanes
    let (wF, wB) = (forward.weightT, backward.weightT)
    var t = first
    while t < interiorEnd {
        let top = x + (t - 3) * ldx
        var c = 0
        while c < vectorEnd {
            let p = top + c
            let (r0, r1, r2, r3, r4) = (loadV(p), loadV(p + ldx), loadV(p + 2 * ldx), loadV(p + 3 * ldx), loadV(p + 4 * ldx))
            let (r5, r6, r7, r8, r9) = (loadV(p + 5 * ldx), loadV(p + 6 * ldx), loadV(p + 7 * ldx), loadV(p + 8 * ldx), loadV(p + 9 * ldx))
            let (f0, f1, f2, f3) = (loadV(wF + c), loadV(wF + ldw + c), loadV(wF + 2 * ldw + c), loadV(wF + 3 * ldw + c))
            let (b0, b1, b2, b3) = (loadV(wB + c), loadV(wB + ldw + c), loadV(wB + 2 * ldw + c), loadV(wB + 3 * ldw + c))
            let (biasF, biasB) = (loadV(forward.bias + c), loadV(backward.bias + c))
            // Forward output t + i reads rows t + i - 3 ... t + i (r_i ... r_{i+3}); reverse, t + i + 3 down to t + i.
            @inline(__always) func fw(_ a: FloatVector, _ b: FloatVector, _ cc: FloatVector, _ d: FloatVector) -> FloatVector {
                biasF.mulAdd(f0, a).mulAdd(f1, b).mulAdd(f2, cc).mulAdd(f3, d)
            }
            @inline(__always) func bw(_ a: FloatVector, _ b: FloatVector, _ cc: FloatVector, _ d: FloatVector) -> FloatVector {
                biasB.mulAdd(b0, a).mulAdd(b1, b).mulAdd(b2, cc).mulAdd(b3, d)
            }
            let of = outF + t * ldo + c, ob = outB + t * ldo + c
            storeV(fw(r0, r1, r2, r3), of)
            storeV(fw(r1, r2, r3, r4), of + ldo)
            storeV(fw(r2, r3, r4, r5), of + 2 * ldo)
            storeV(fw(r3, r4, r5, r6), of + 3 * ldo)
            storeV(bw(r6, r5, r4, r3), ob)
            storeV(bw(r7, r6, r5, r4), ob + ldo)
            storeV(bw(r8, r7, r6, r5), ob + 2 * ldo)
            storeV(bw(r9, r8, r7, r6), ob + 3 * ldo)
            c += vectorLanes
        }
        // Channels past the last whole vector, one at a time.
        while c < e {
            for i in 0 ..< 4 {
                var (accF, accB) = (forward.bias[c], backward.bias[c])
                for j in 0 ..< 4 {
                    accF += wF[j * ldw + c] * x[(t + i - 3 + j) * ldx + c]
                    accB += wB[j * ldw + c] * x[(t + i + 3 - j) * ldx + c]
                }
                outF[(t + i) * ldo + c] = accF
                outB[(t + i) * ldo + c] = accB
            }
            c += 1
        }
        for i in 0 ..< 4 {
            siluInPlace(outF + (t + i) * ldo, e)
            siluInPlace(outB + (t + i) * ldo, e)
        }
        t += 4
    }
    edges(interiorEnd ..< tokens.upperBound)
}
