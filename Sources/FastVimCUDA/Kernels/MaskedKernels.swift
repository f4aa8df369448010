/// FastMaskVim's masked encoding: only the kept tokens enter the blocks, and each mixer
/// pools them by grid row ("constant divide": a row sum over the full row length).
extension CUDAKernel {
    /// hidden[b, t] = patches[b, ids[b, t]] + bias + pos[ids[b, t]]: the kept tokens of the
    /// embedded grid, in `ids` order.
    static let gatherKept = CUDAKernel(name: "fv_gather_kept", source: """
    extern "C" __global__ void fv_gather_kept(float* hidden, const float* patches, const float* bias, const float* pos,
                                              const int* ids, int batch, int positions, int k, int d) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= (long)batch * k * d) return;
        int c = (int)(idx % d);
        long token = idx / d;
        int b = (int)(token / k), id = ids[token];
        hidden[idx] = patches[((long)b * positions + id) * d + c] + bias[c] + pos[(long)id * d + c];
    }
    """)

    /// Reorders each image's K tokens: out[b, slot] = x[b, order[b, slot]], or the inverse
    /// (`scatter`): out[b, order[b, slot]] = x[b, slot]. Odd blocks see the kept tokens in
    /// transposed-grid order.
    static let permuteTokens = CUDAKernel(name: "fv_permute_tokens", source: """
    extern "C" __global__ void fv_permute_tokens(float* out, const float* x, const int* order, int batch, int k, int d,
                                                 int scatter) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= (long)batch * k * d) return;
        int c = (int)(idx % d);
        long slot = idx / d;
        long other = (slot / k) * k + order[slot];
        if (scatter) out[other * d + c] = x[slot * d + c]; else out[slot * d + c] = x[other * d + c];
    }
    """)

    /// Row pooling of the kept tokens: pooled_f[b, row] sums x_f of the tokens in that row,
    /// pooled_b[b, row] the x_b of their mirrors (token K-1-t: the reference pools the flipped
    /// sequence into the unflipped rows), both times `scale`; an empty row pools to zero. One
    /// thread per (image, row, channel).
    static let maskedPool = CUDAKernel(name: "fv_masked_pool", source: """
    extern "C" __global__ void fv_masked_pool(float* pooled_f, float* pooled_b, const float* x_f, const float* x_b,
                                              const int* row_of, int batch, int k, int groups, int e, float scale) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= (long)batch * groups * e) return;
        int c = (int)(idx % e), row = (int)((idx / e) % groups), b = (int)(idx / ((long)e * groups));
        float f = 0.f, r = 0.f;
        for (int t = 0; t < k; t++) {
            if (row_of[(long)b * k + t] != row) continue;
            f += x_f[((long)b * k + t) * e + c];
            r += x_b[((long)b * k + (k - 1 - t)) * e + c];
        }
        pooled_f[idx] = f * scale;
        pooled_b[idx] = r * scale;
    }
    """)
}
