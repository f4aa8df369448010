// The block's sum of `value`, for every thread: a tree over `partial`, which holds a slot
// per thread and is free again when this returns.
__device__ __forceinline__ float fv_block_sum(float* partial, float value) {
    partial[threadIdx.x] = value;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    float total = partial[0];
    __syncthreads();
    return total;
}

// The paper's Sec. 14 kernel, whole: repeat the pooled scan outputs over their groups, add
// both directions' D skips, average the directions, LayerNorm (when present) and gate with SiLU(z).
//   y_f, y_b (B, G, E)   x_f, x_b (B, S, E)   xz (B, S, 2E), z in columns [E, 2E)
//   d_f, d_b, ln_w, ln_b (E)   row_of (B, S) int32 or null   gated (B, S, E)
// `row_of` (FastMaskVim) gives each kept token's pooled row; ln_w null: no LayerNorm (Vim).
// Launch: one block per token, a power of two from 32 to 256 threads (the reductions halve it).
extern "C" __global__ void fv_combine_norm_gate(float* gated, const float* y_f, const float* y_b, const float* x_f,
                                                const float* x_b, const float* xz, const float* d_f, const float* d_b,
                                                const float* ln_w, const float* ln_b, const int* row_of, int sequence,
                                                int e, int groups, int width, int interleave, float eps) {
    __shared__ float partial[256];
    long token = blockIdx.x;
    int b = (int)(token / sequence), t = (int)(token % sequence);
    long group = (long)b * groups + (t / (width * interleave)) * interleave + t % interleave;
    // FastMaskVim: each kept token's row; the backward output of token t is its mirror's row.
    long group_b = row_of ? (long)b * groups + row_of[(long)b * sequence + (sequence - 1 - t)] : group;
    if (row_of) group = (long)b * groups + row_of[token];
    float* v = gated + token * e;
    const float* z = xz + token * 2 * e + e;
    float sum = 0.f;
    for (int c = threadIdx.x; c < e; c += blockDim.x) {
        float value = 0.5f * (y_f[group * e + c] + d_f[c] * x_f[token * e + c] + y_b[group_b * e + c] + d_b[c] * x_b[token * e + c]);
        v[c] = value;
        sum += value;
    }
    if (ln_w) {
        float mean = fv_block_sum(partial, sum) / e;
        float var = 0.f;
        for (int c = threadIdx.x; c < e; c += blockDim.x) {
            float dv = v[c] - mean;
            var += dv * dv;
        }
        float inv = rsqrtf(fv_block_sum(partial, var) / e + eps);
        for (int c = threadIdx.x; c < e; c += blockDim.x) v[c] = (v[c] - mean) * inv * ln_w[c] + ln_b[c];
    }
    for (int c = threadIdx.x; c < e; c += blockDim.x) v[c] *= z[c] / (1.f + expf(-z[c]));
}
