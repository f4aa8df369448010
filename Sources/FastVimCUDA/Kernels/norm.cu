// The pre-mixer RMSNorm with its residual add.
//   residual, hidden, out (rows, d)   weight (d)

// residual += hidden (when `add`), out = RMSNorm(residual) · weight.
// Launch: one block per row, a power of two from 32 to 256 threads (the reduction halves it).
extern "C" __global__ void fv_add_rmsnorm(float* out, float* residual, const float* hidden, const float* weight, int d,
                                          int add, float eps) {
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
