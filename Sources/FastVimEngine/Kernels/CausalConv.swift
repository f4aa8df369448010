/// Depthwise causal convolution along the token axis followed by SiLU, over one sequence.
/// x is (L, E) with row stride `ldx` (it is the x half of in_proj's output); out is (L, E).
/// `weightT` is (K, E), the PyTorch (E, 1, K) weight transposed so lanes run over channels.
/// Forward: out[t] = silu(bias + Σ_k w[k] · x[t - (K-1) + k]).
/// Reverse (the backward branch on the flipped sequence, written in original order):
/// out[t] = silu(bias + Σ_k w[k] · x[t + (K-1) - k]).
func causalConvSiLU(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, ldx: Int,
                    weightT: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                    length: Int, channels e: Int, width k: Int, reverse: Bool) {
    let vectorEnd = e - e % 8
    for t in 0 ..< length {
        let o = out + t * e
        var c = 0
        while c < vectorEnd {
            var acc = load8(bias + c)
            for j in 0 ..< k {
                let src = reverse ? t + (k - 1) - j : t - (k - 1) + j
                if src >= 0, src < length { acc += load8(weightT + j * e + c) * load8(x + src * ldx + c) }
            }
            store8(silu8(acc), o + c)
            c += 8
        }
        while c < e {
            var acc = bias[c]
            for j in 0 ..< k {
                let src = reverse ? t + (k - 1) - j : t - (k - 1) + j
                if src >= 0, src < length { acc += weightT[j * e + c] * x[src * ldx + c] }
            }
            o[c] = silu(acc)
            c += 1
        }
    }
}
