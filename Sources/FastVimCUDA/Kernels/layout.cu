// Token reorderings around a mixer: FastVim's odd blocks see the grid transposed, and
// FastMaskVim's blocks see their kept tokens in that block's view order.

// (outer, rows, cols, inner) <-> (outer, cols, rows, inner) tokens of each image, D values each;
// `inner` is the channel count of Channel-First channel models, `outer` of Spatial-First ones.
//   x, out (B, S, D), S = outer·rows·cols·inner (+ nothing: pooled models have no class token)
// Launch: elementwise over B·S·D.
extern "C" __global__ void fv_grid_transpose(float* out, const float* x, int batch, int sequence, int outer, int rows,
                                             int cols, int inner, int d, int to_column_major) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    long per_image = (long)outer * rows * cols * inner * d;
    if (idx >= (long)batch * per_image) return;
    int c = (int)(idx % d);
    long rest = idx / d;
    int in = (int)(rest % inner); rest /= inner;
    int col = (int)(rest % cols); rest /= cols;
    int row = (int)(rest % rows); rest /= rows;
    int o = (int)(rest % outer);
    int b = (int)(rest / outer);
    long base = (long)b * sequence * d + (long)o * rows * cols * inner * d;
    long row_major = base + (((long)row * cols + col) * inner + in) * d + c;
    long col_major = base + (((long)col * rows + row) * inner + in) * d + c;
    if (to_column_major) out[col_major] = x[row_major]; else out[row_major] = x[col_major];
}

// out[b, slot] = x[b, order[b, slot]], or the inverse (`scatter`): out[b, order[b, slot]] = x[b, slot].
//   x, out (B, K, D)   order (B, K) int32
// Launch: elementwise over B·K·D.
extern "C" __global__ void fv_permute_tokens(float* out, const float* x, const int* order, int batch, int k, int d,
                                             int scatter) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)batch * k * d) return;
    int c = (int)(idx % d);
    long slot = idx / d;
    long other = (slot / k) * k + order[slot];
    if (scatter) out[other * d + c] = x[slot * d + c]; else out[slot * d + c] = x[other * d + c];
}
