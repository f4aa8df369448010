// The mixer's depthwise causal conv + SiLU, fused with FastVim's pooling.
//   xz (B, S, 2E): in_proj's output, x in columns [0, E)    weight_t (K, E)   bias (E)
//   out (B, S, E): conv output at full resolution (the D skip needs it)
//   pooled (B, G, E): one value per group of `width` tokens

// One thread per (image, group, channel) walks the group's `width` tokens (every
// `interleave`-th for Channel-First channel models) and writes their conv outputs and the
// group's mean (times `scale`) or max (`collapse_max`). `reverse` is the backward branch in
// original order. Vim passes pooled = null and width 1.
// Launch: elementwise over B·G·E.
extern "C" __global__ void fv_conv_silu_pool(float* out, float* pooled, const float* xz, const float* weight_t,
                                             const float* bias, int batch, int sequence, int e, int k, int reverse,
                                             int groups, int width, int interleave, int collapse_max, float scale) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)batch * groups * e) return;
    int c = (int)(idx % e);
    int g = (int)((idx / e) % groups), b = (int)(idx / ((long)e * groups));
    float pool = collapse_max ? -3.402823466e38f : 0.f;
    int first = (g / interleave) * width * interleave + g % interleave;
    for (int w = 0; w < width; w++) {
        int t = first + w * interleave;
        float acc = bias[c];
        for (int j = 0; j < k; j++) {
            int s = reverse ? t + (k - 1) - j : t - (k - 1) + j;
            if (s >= 0 && s < sequence) acc += weight_t[j * e + c] * xz[((long)b * sequence + s) * 2 * e + c];
        }
        float y = acc / (1.f + expf(-acc));
        out[((long)b * sequence + t) * e + c] = y;
        pool = collapse_max ? fmaxf(pool, y) : pool + y;
    }
    if (pooled) pooled[((long)b * groups + g) * e + c] = collapse_max ? pool : pool * (scale / width);
}

// FastMaskVim's row pooling of the kept tokens ("constant divide": a row sum over the full
// row length, `scale` = 1 / row length): pooled_f[b, row] sums x_f of the tokens in that
// row, pooled_b[b, row] the x_b of their mirrors (token K-1-t: the reference pools the
// flipped sequence into the unflipped rows); an empty row pools to zero.
//   x_f, x_b (B, K, E)   row_of (B, K) int32   pooled_f, pooled_b (B, G, E)
// Launch: elementwise over B·G·E.
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
