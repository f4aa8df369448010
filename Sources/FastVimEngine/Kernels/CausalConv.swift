/// Depthwise causal convolution along the token axis followed by SiLU, over one sequence
/// and a slice of `channels` channels. x is (L, ·) with row stride `ldx` (the x half of
/// in_proj's output), out is (L, ·) with row stride `ldo`; `weightT` is the PyTorch
/// (E, 1, K) weight transposed to (K, E) with row stride `ldw`, so lanes run over channels.
/// Forward: out[t] = silu(bias + Σ_k w[k] · x[t - (K-1) + k]).
/// Reverse (the backward branch on the flipped sequence, written in original order):
/// out[t] = silu(bias + Σ_k w[k] · x[t + (K-1) - k]).
/// `tokens` limits the outputs to those tokens (the inputs still span the sequence).
func causalConvSiLU(_ out: UnsafeMutablePointer<Float>, ldo: Int, _ x: UnsafePointer<Float>, ldx: Int,
                    weightT: UnsafePointer<Float>, ldw: Int, bias: UnsafePointer<Float>,
                    length: Int, channels e: Int, width k: Int, reverse: Bool, tokens: Range<Int>? = nil) {
    let vectorEnd = e - e % 8
    // Tap j of token t reads token t + offset(j); taps outside the sequence read zero.
    let step = reverse ? -1 : 1
    let first = reverse ? k - 1 : -(k - 1)
    for t in tokens ?? 0 ..< length {
        let o = out + t * ldo
        let interior = t + first >= 0 && t + first < length && t + first + step * (k - 1) >= 0
            && t + first + step * (k - 1) < length
        var c = 0
        while c < vectorEnd {
            var acc = load8(bias + c)
            if interior {
                var src = x + (t + first) * ldx + c
                for j in 0 ..< k {
                    acc = acc.addingProduct(load8(weightT + j * ldw + c), load8(src))
                    src += step * ldx
                }
            } else {
                for j in 0 ..< k {
                    let s = t + first + step * j
                    if s >= 0, s < length { acc += load8(weightT + j * ldw + c) * load8(x + s * ldx + c) }
                }
            }
            store8(silu8(acc), o + c)
            c += 8
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
