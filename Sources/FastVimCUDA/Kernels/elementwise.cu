// Small elementwise passes around the GEMMs.

// delta = softplus(delta + dt bias), the reference's log1p(exp(x)) with x itself above 20.
//   delta (rows, e)   bias (e)
// Launch: elementwise over rows·e.
extern "C" __global__ void fv_softplus_bias(float* delta, const float* bias, long rows, int e) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= rows * e) return;
    float x = delta[idx] + bias[idx % e];
    delta[idx] = x > 20.f ? x : log1pf(expf(x));
}

// x[row] += bias for every row: the optional in_proj/out_proj biases and the head's.
//   x (rows, cols)   bias (cols)
// Launch: elementwise over rows·cols.
extern "C" __global__ void fv_add_row_bias(float* x, const float* bias, long rows, int cols) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= rows * cols) return;
    x[idx] += bias[idx % cols];
}

// features[b] = mean of normed[b] over tokens [first, first + count): every token for
// FastVim, the class token alone (count 1) for Vim.
//   normed (B, S, D)   features (B, D)
// Launch: elementwise over B·D.
extern "C" __global__ void fv_mean_tokens(float* features, const float* normed, int batch, int sequence, int d, int first,
                                          int count) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)batch * d) return;
    int c = (int)(idx % d), b = (int)(idx / d);
    float sum = 0.f;
    for (int t = first; t < first + count; t++) sum += normed[((long)b * sequence + t) * d + c];
    features[idx] = sum / count;
}

// float32 (rows, cols) with leading dimension `ld` -> packed bfloat16 (rows, cols), the
// operands of bf16 GEMMs. Rounds to nearest even like PyTorch's `.to(torch.bfloat16)`; NaNs
// stay (quiet) NaNs instead of rounding into infinities. The bits are written as
// `unsigned short` so NVRTC needs no cuda_bf16.h (not every NVRTC install ships it).
// Launch: elementwise over rows·cols.
extern "C" __global__ void fv_to_bf16(unsigned short* out, const float* x, long rows, int cols, int ld) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= rows * cols) return;
    long row = idx / cols;
    int col = (int)(idx % cols);
    unsigned int bits = __float_as_uint(x[row * ld + col]);
    if ((bits & 0x7fffffffu) > 0x7f800000u) { out[idx] = (unsigned short)((bits >> 16) | 0x0040u); return; }
    bits += 0x7fffu + ((bits >> 16) & 1u);
    out[idx] = (unsigned short)(bits >> 16);
}
