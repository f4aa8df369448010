extension CUDAKernel {
    /// residual += hidden (when `add`), out = RMSNorm(residual): one block of 256 threads per token.
    static let addRMSNorm = CUDAKernel(name: "fv_add_rmsnorm", source: """
    extern "C" __global__ void fv_add_rmsnorm(float* out, float* residual, const float* hidden, const float* weight,
                                              int d, int add, float eps) {
        __shared__ float partial[256];
        long row = blockIdx.x;
        float* r = residual + row * d;
        const float* h = hidden + row * d;
        float ss = 0.f;
        for (int i = threadIdx.x; i < d; i += blockDim.x) {
            float v = add ? r[i] + h[i] : r[i];
            if (add) r[i] = v;
            ss += v * v;
        }
        partial[threadIdx.x] = ss;
        __syncthreads();
        for (int s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
            __syncthreads();
        }
        float scale = rsqrtf(partial[0] / d + eps);
        for (int i = threadIdx.x; i < d; i += blockDim.x) out[row * d + i] = r[i] * scale * weight[i];
    }
    """)

    /// (outer, rows, cols, inner) <-> (outer, cols, rows, inner) token transposes of odd
    /// FastVim blocks; `inner` is the channel count of Channel-First channel models.
    static let gridTranspose = CUDAKernel(name: "fv_grid_transpose", source: """
    extern "C" __global__ void fv_grid_transpose(float* out, const float* x, int batch, int sequence, int outer,
                                                 int rows, int cols, int inner, int d, int to_column_major) {
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
    """)

    /// Depthwise causal conv + SiLU over one direction, fused with FastVim's pooling: one
    /// thread per (image, group, channel) walks the group's `width` tokens (every
    /// `interleave`-th for Channel-First channel models), writes the conv output at full
    /// resolution (the D skip needs it) and the group's mean (times `scale`) or max.
    /// `reverse` is the backward branch in original order. Vim passes pooled = 0, width 1.
    static let convSiLUPool = CUDAKernel(name: "fv_conv_silu_pool", source: """
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
    """)

    /// The paper's Sec. 14 kernel, whole: repeat the pooled scan outputs, add both D skips,
    /// average the directions, LayerNorm (when present) and gate with SiLU(z), one block per token.
    /// `row_of` (FastMaskVim, else null) gives each kept token's pooled row.
    static let combineNormGate = CUDAKernel(name: "fv_combine_norm_gate", source: """
    extern "C" __global__ void fv_combine_norm_gate(float* gated, const float* y_f, const float* y_b,
                                                    const float* x_f, const float* x_b, const float* xz,
                                                    const float* d_f, const float* d_b, const float* ln_w,
                                                    const float* ln_b, const int* row_of, int sequence, int e, int groups,
                                                    int width, int interleave, float eps) {
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
            partial[threadIdx.x] = sum;
            __syncthreads();
            for (int s = blockDim.x / 2; s > 0; s >>= 1) { if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s]; __syncthreads(); }
            float mean = partial[0] / e;
            __syncthreads();
            float var = 0.f;
            for (int c = threadIdx.x; c < e; c += blockDim.x) { float dv = v[c] - mean; var += dv * dv; }
            partial[threadIdx.x] = var;
            __syncthreads();
            for (int s = blockDim.x / 2; s > 0; s >>= 1) { if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s]; __syncthreads(); }
            float inv = rsqrtf(partial[0] / e + eps);
            for (int c = threadIdx.x; c < e; c += blockDim.x) v[c] = (v[c] - mean) * inv * ln_w[c] + ln_b[c];
        }
        for (int c = threadIdx.x; c < e; c += blockDim.x) v[c] *= z[c] / (1.f + expf(-z[c]));
    }
    """)
}
