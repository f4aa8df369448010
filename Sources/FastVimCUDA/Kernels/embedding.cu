// Patch and position embedding: the image in, the residual stream out.
//
// Layouts follow the CPU engine (token-major activations):
//   image    (B, C, H, W)              columns (B·L, C·p·p)      patches (B·P, D)
//   hidden   (B, S, D)                 pos     (S, D) or (L, D) for a masked pass
// The patch GEMM between fv_im2col and fv_embed_assemble is cuBLAS's.

// One thread per element of the (B·L, C·p·p) patch matrix; pixels past the image read as
// zero (right and bottom padding to a multiple of the patch).
// Launch: elementwise over B·L·C·p·p.
extern "C" __global__ void fv_im2col(float* cols, const float* image, int batch, int channels, int height, int width,
                                     int patch, int stride, int rows, int columns) {
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

// hidden[b, t] = patch + bias (+ channel embedding) + pos[t], with the class token (Vim,
// ChannelVim) at `middle` (-1: none). Channel models embed every channel of a grid position
// as its own token: patches come in (image, channel, position) order and the sequence orders
// them channel-fastest (Channel-First) or position-fastest (Spatial-First).
// `channel_embed` may be null. Launch: elementwise over B·S·D.
extern "C" __global__ void fv_embed_assemble(float* hidden, const float* patches, const float* bias, const float* pos,
                                             const float* cls, const float* channel_embed, int batch, int positions,
                                             int channels, int channel_first, int sequence, int d, int middle) {
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

// FastMaskVim: hidden[b, t] = patches[b, ids[b, t]] + bias + pos[ids[b, t]], the kept tokens
// of the embedded grid in `ids` order.
//   ids (B, K) int32   patches (B, P, D)   hidden (B, K, D)
// Launch: elementwise over B·K·D.
extern "C" __global__ void fv_gather_kept(float* hidden, const float* patches, const float* bias, const float* pos,
                                          const int* ids, int batch, int positions, int k, int d) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)batch * k * d) return;
    int c = (int)(idx % d);
    long token = idx / d;
    int b = (int)(token / k), id = ids[token];
    hidden[idx] = patches[((long)b * positions + id) * d + c] + bias[c] + pos[(long)id * d + c];
}
