// The selective scan, mamba_ssm's reference recurrence per (image, channel):
//   s = exp(δ[g]·A) ⊙ s + δ[g]·u[g]·B[g];   y[g] = Σ_i s[i]·C[g, i]
// over the pooled rows/columns (FastVim) or every token (Vim), forward or (`reverse`) from
// the last step down: the backward branch in original order.
//   u, delta, y (B, steps, E)   a (E, n): A = -exp(A_log)
//   dbc (B, steps, ld_bc): x_proj's [dt | B | C]; B at column r, C at column r + n
//
// A channel's states are spread over `lanes` adjacent threads (a power of two, at most a
// warp): lane l keeps states l, l + lanes, ... in registers, at most FV_STATES_PER_LANE of
// them, so n <= 32 · FV_STATES_PER_LANE = 256 (every state size Mamba checkpoints use; the
// host refuses larger ones at load). The lanes sum y with warp shuffles, which every thread
// must reach: no thread returns early.

#define FV_STATES_PER_LANE 8

// Sum of `acc` over the `lanes` adjacent threads of a group (lanes a power of two <= 32).
__device__ __forceinline__ float fv_lane_sum(float acc, int lanes) {
    for (int offset = lanes / 2; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
    return acc;
}

// One scan step of one lane's states; returns its part of y.
__device__ __forceinline__ float fv_scan_step(float* s, const float* ai, float d, float du, const float* bc, int lane,
                                              int lanes, int n) {
    float acc = 0.f;
#pragma unroll
    for (int j = 0; j < FV_STATES_PER_LANE; j++) {
        int i = lane + j * lanes;
        if (i < n) {
            s[j] = expf(d * ai[j]) * s[j] + du * bc[i];
            acc += s[j] * bc[n + i];
        }
    }
    return acc;
}

// The whole sequence in one pass. A state size the lanes cannot hold writes NaN, never a
// partial sum. Launch: elementwise over B·E·lanes (blocks a multiple of 32 threads).
extern "C" __global__ void fv_selective_scan(float* y, const float* u, const float* delta, const float* a,
                                             const float* dbc, int batch, int steps, int e, int n, int ld_bc, int r,
                                             int reverse, int lanes) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    int lane = (int)(idx % lanes);
    long channel = idx / lanes;
    bool valid = channel < (long)batch * e;
    bool fits = n <= lanes * FV_STATES_PER_LANE;
    bool active = valid && fits;
    int c = valid ? (int)(channel % e) : 0, b = valid ? (int)(channel / e) : 0;
    float s[FV_STATES_PER_LANE], ai[FV_STATES_PER_LANE];
#pragma unroll
    for (int j = 0; j < FV_STATES_PER_LANE; j++) {
        int i = lane + j * lanes;
        s[j] = 0.f;
        ai[j] = active && i < n ? a[(long)c * n + i] : 0.f;
    }
    for (int step = 0; step < steps; step++) {
        int g = reverse ? steps - 1 - step : step;
        long row = (long)b * steps + g;
        float acc = 0.f;
        if (active) {
            float d = delta[row * e + c];
            acc = fv_scan_step(s, ai, d, d * u[row * e + c], dbc + row * ld_bc + r, lane, lanes, n);
        }
        acc = fv_lane_sum(acc, lanes);
        if (valid && lane == 0) y[row * e + c] = fits ? acc : __int_as_float(0x7fc00000);
    }
}

// The chunked scan, for when B·E·n leaves the GPU idle (one image, a long Vim sequence): the
// sequence is cut into `chunks` chunks of `chunk` steps scanned in parallel. The recurrence
// is linear in s, so a chunk started from zero plus its decay product (this kernel), carried
// across chunks (fv_scan_chunk_carry), gives every chunk's true starting state
// (fv_selective_scan_chunked). Chunks are numbered in scan order (reversed for `reverse`).
//   chunk_state, chunk_decay (B, chunks, E, n)
// Launch: elementwise over B·chunks·E·n, one thread per state.
extern "C" __global__ void fv_scan_chunk_states(float* chunk_state, float* chunk_decay, const float* u,
                                                const float* delta, const float* a, const float* dbc, int batch,
                                                int steps, int e, int n, int ld_bc, int r, int reverse, int chunk,
                                                int chunks) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)batch * chunks * e * n) return;
    int i = (int)(idx % n), c = (int)((idx / n) % e);
    int k = (int)((idx / ((long)n * e)) % chunks), b = (int)(idx / ((long)n * e * chunks));
    float ai = a[(long)c * n + i], s = 0.f, decay = 1.f;
    int end = min(steps, (k + 1) * chunk);
    for (int step = k * chunk; step < end; step++) {
        int g = reverse ? steps - 1 - step : step;
        long row = (long)b * steps + g;
        float d = delta[row * e + c], da = expf(d * ai);
        s = da * s + d * u[row * e + c] * dbc[row * ld_bc + r + i];
        decay *= da;
    }
    chunk_state[idx] = s;
    chunk_decay[idx] = decay;
}

// Turns each chunk's zero-started end state into the state the chunk starts from, in place,
// walking the chunks in scan order. Launch: elementwise over B·E·n.
extern "C" __global__ void fv_scan_chunk_carry(float* chunk_state, const float* chunk_decay, int batch, int e, int n,
                                               int chunks) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)batch * e * n) return;
    long per_chunk = (long)e * n, b = idx / per_chunk, within = idx % per_chunk;
    float carry = 0.f;
    for (int k = 0; k < chunks; k++) {
        long at = (b * chunks + k) * per_chunk + within;
        float local = chunk_state[at];
        chunk_state[at] = carry;
        carry = chunk_decay[at] * carry + local;
    }
}

// Every chunk rescanned from its carried-in state, lanes as in fv_selective_scan. Every
// thread runs `chunk` iterations (the last chunk's missing steps idle) so the lanes reach
// the shuffles together. Launch: elementwise over B·chunks·E·lanes.
extern "C" __global__ void fv_selective_scan_chunked(float* y, const float* u, const float* delta, const float* a,
                                                     const float* dbc, const float* chunk_start, int batch, int steps,
                                                     int e, int n, int ld_bc, int r, int reverse, int lanes, int chunk,
                                                     int chunks) {
    long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    int lane = (int)(idx % lanes);
    long rest = idx / lanes;
    bool valid = rest < (long)batch * chunks * e;
    bool fits = n <= lanes * FV_STATES_PER_LANE;
    bool active = valid && fits;
    long at = valid ? rest : 0;
    int c = (int)(at % e), k = (int)((at / e) % chunks), b = (int)(at / ((long)e * chunks));
    float s[FV_STATES_PER_LANE], ai[FV_STATES_PER_LANE];
#pragma unroll
    for (int j = 0; j < FV_STATES_PER_LANE; j++) {
        int i = lane + j * lanes;
        bool mine = active && i < n;
        s[j] = mine ? chunk_start[at * n + i] : 0.f;
        ai[j] = mine ? a[(long)c * n + i] : 0.f;
    }
    for (int t = 0; t < chunk; t++) {
        int step = k * chunk + t;
        bool live = valid && step < steps;
        float acc = 0.f;
        long row = 0;
        if (live) {
            int g = reverse ? steps - 1 - step : step;
            row = (long)b * steps + g;
            if (fits) {
                float d = delta[row * e + c];
                acc = fv_scan_step(s, ai, d, d * u[row * e + c], dbc + row * ld_bc + r, lane, lanes, n);
            }
        }
        acc = fv_lane_sum(acc, lanes);
        if (live && lane == 0) y[row * e + c] = fits ? acc : __int_as_float(0x7fc00000);
    }
}
