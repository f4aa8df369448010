extension CUDAKernel {
    /// One thread per element of the (B·L, C·p·p) patch matrix; pixels past the image read as
    /// zero (right and bottom padding to a multiple of the patch). The GEMM is cuBLAS's.
    static let patchEmbedIm2col = CUDAKernel(name: "fv_im2col", source: """
    extern "C" __global__ void fv_im2col(float* cols, const float* image, int batch, int channels, int height,
                                         int width, int patch, int stride, int rows, int columns) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        int kp = channels * patch * patch;
        long total = (long)batch * rows * columns * kp;
        if (idx >= total) return;
        int k = (int)(idx % kp);
        long token = idx / kp;
        int t = (int)(token % (rows * columns)), b = (int)(token / (rows * columns));
        int r = t / columns, c = t % columns;
        int ch = k / (patch * patch), ky = (k / patch) % patch, kx = k % patch;
        int y = r * stride + ky, x = c * stride + kx;
        cols[idx] = (y < height && x < width) ? image[(((long)b * channels + ch) * height + y) * width + x] : 0.f;
    }
    """)

    /// hidden[b, t] = patch + bias + pos[t], with the class token (Vim) at `middle`.
    static let embedAssemble = CUDAKernel(name: "fv_embed_assemble", source: """
    extern "C" __global__ void fv_embed_assemble(float* hidden, const float* patches, const float* bias,
                                                 const float* pos, const float* cls, int batch, int tokens,
                                                 int sequence, int d, int middle) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        long total = (long)batch * sequence * d;
        if (idx >= total) return;
        int c = (int)(idx % d);
        int t = (int)((idx / d) % sequence), b = (int)(idx / ((long)d * sequence));
        if (t == middle) { hidden[idx] = cls[c] + pos[(long)t * d + c]; return; }
        int k = (middle >= 0 && t > middle) ? t - 1 : t;
        hidden[idx] = patches[((long)b * tokens + k) * d + c] + bias[c] + pos[(long)t * d + c];
    }
    """)

    /// features[b] = mean over the tokens of normed[b] (FastVim's pooled features).
    static let meanTokens = CUDAKernel(name: "fv_mean_tokens", source: """
    extern "C" __global__ void fv_mean_tokens(float* features, const float* normed, int batch, int sequence, int d) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= (long)batch * d) return;
        int c = (int)(idx % d), b = (int)(idx / d);
        float sum = 0.f;
        for (int t = 0; t < sequence; t++) sum += normed[((long)b * sequence + t) * d + c];
        features[idx] = sum / sequence;
    }
    """)
}
