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

    /// hidden[b, t] = patch + bias (+ channel embedding) + pos[t], with the class token (Vim,
    /// ChannelVim) at `middle` (-1: none). Channel models embed every channel of a grid
    /// position as its own token: patches come in (image, channel, position) order and the
    /// sequence orders them channel-fastest (Channel-First) or position-fastest (Spatial-First).
    static let embedAssemble = CUDAKernel(name: "fv_embed_assemble", source: """
    extern "C" __global__ void fv_embed_assemble(float* hidden, const float* patches, const float* bias,
                                                 const float* pos, const float* cls, const float* channel_embed,
                                                 int batch, int positions, int channels, int channel_first,
                                                 int sequence, int d, int middle) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        long total = (long)batch * sequence * d;
        if (idx >= total) return;
        int c = (int)(idx % d);
        int t = (int)((idx / d) % sequence), b = (int)(idx / ((long)d * sequence));
        if (t == middle) { hidden[idx] = cls[c] + pos[(long)t * d + c]; return; }
        int k = (middle >= 0 && t > middle) ? t - 1 : t;
        int position = channel_first ? k / channels : k % positions;
        int channel = channel_first ? k % channels : k / positions;
        float v = patches[(((long)b * channels + channel) * positions + position) * d + c] + bias[c] + pos[(long)t * d + c];
        if (channel_embed) v += channel_embed[(long)channel * d + c];
        hidden[idx] = v;
    }
    """)

    /// features[b] = mean of normed[b] over tokens [first, first + count): every token for
    /// FastVim, the class token alone (count 1) for Vim.
    static let meanTokens = CUDAKernel(name: "fv_mean_tokens", source: """
    extern "C" __global__ void fv_mean_tokens(float* features, const float* normed, int batch, int sequence, int d,
                                              int first, int count) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= (long)batch * d) return;
        int c = (int)(idx % d), b = (int)(idx / d);
        float sum = 0.f;
        for (int t = first; t < first + count; t++) sum += normed[((long)b * sequence + t) * d + c];
        features[idx] = sum / count;
    }
    """)

    /// x[row] += bias for every row: the optional in_proj/out_proj biases and the head's.
    static let addRowBias = CUDAKernel(name: "fv_add_row_bias", source: """
    extern "C" __global__ void fv_add_row_bias(float* x, const float* bias, long rows, int cols) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= rows * cols) return;
        x[idx] += bias[idx % cols];
    }
    """)
}
