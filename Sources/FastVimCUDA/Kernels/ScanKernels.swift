extension CUDAKernel {
    /// delta = softplus(delta + dt bias), the reference's log1p(exp(x)) with x itself above 20.
    static let softplusBias = CUDAKernel(name: "fv_softplus_bias", source: """
    extern "C" __global__ void fv_softplus_bias(float* delta, const float* bias, long rows, int e) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= rows * e) return;
        float x = delta[idx] + bias[idx % e];
        delta[idx] = x > 20.f ? x : log1pf(expf(x));
    }
    """)

    /// The selective scan: one thread per (image, channel), the N states in registers, over
    /// the pooled tokens (FastVim) or every token (Vim). B and C are columns R.. of x_proj's output.
    static let selectiveScan = CUDAKernel(name: "fv_selective_scan", source: """
    extern "C" __global__ void fv_selective_scan(float* y, const float* u, const float* delta, const float* a,
                                                 const float* dbc, int batch, int steps, int e, int n, int ld_bc,
                                                 int r, int reverse) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        if (idx >= (long)batch * e || n > 64) return;
        int c = (int)(idx % e), b = (int)(idx / e);
        float s[64];
        for (int i = 0; i < n; i++) s[i] = 0.f;
        for (int step = 0; step < steps; step++) {
            int g = reverse ? steps - 1 - step : step;
            long row = (long)b * steps + g;
            float d = delta[row * e + c], x = u[row * e + c];
            const float* bm = dbc + row * ld_bc + r;
            const float* cm = bm + n;
            float acc = 0.f;
            for (int i = 0; i < n; i++) {
                s[i] = expf(d * a[(long)c * n + i]) * s[i] + d * bm[i] * x;
                acc += s[i] * cm[i];
            }
            y[row * e + c] = acc;
        }
    }
    """)

    /// The selective scan with one thread per state: `n` adjacent lanes (a power of two, at
    /// most 32) share an (image, channel) and sum y over the states with warp shuffles, so a
    /// batch keeps n times more threads busy than the one-thread-per-channel kernel above.
    /// Every thread reaches the shuffles (no early return): they need the whole warp.
    static let selectiveScanLanes = CUDAKernel(name: "fv_selective_scan_lanes", source: """
    extern "C" __global__ void fv_selective_scan_lanes(float* y, const float* u, const float* delta, const float* a,
                                                       const float* dbc, int batch, int steps, int e, int n, int ld_bc,
                                                       int r, int reverse) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        int i = (int)(idx % n);
        long channel = idx / n;
        bool active = channel < (long)batch * e;
        int c = active ? (int)(channel % e) : 0, b = active ? (int)(channel / e) : 0;
        float ai = active ? a[(long)c * n + i] : 0.f;
        float s = 0.f;
        for (int step = 0; step < steps; step++) {
            int g = reverse ? steps - 1 - step : step;
            long row = (long)b * steps + g;
            float acc = 0.f;
            if (active) {
                float d = delta[row * e + c], x = u[row * e + c];
                const float* bc = dbc + row * ld_bc + r;
                s = expf(d * ai) * s + d * bc[i] * x;
                acc = s * bc[n + i];
            }
            for (int offset = n / 2; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
            if (active && i == 0) y[row * e + c] = acc;
        }
    }
    """)

    /// The chunked scan, for when batch x channels x states leaves the GPU idle (one image, a
    /// long Vim sequence): the sequence is cut into chunks scanned in parallel. The
    /// recurrence s = exp(δ·A)·s + δ·B·x is linear in s, so a chunk started from zero plus its
    /// decay product (this kernel), carried across chunks (`fv_scan_chunk_carry`), gives
    /// every chunk's true starting state (`fv_selective_scan_chunked`). One thread per
    /// (image, chunk, channel, state); the chunks are in scan order (reversed for `reverse`).
    static let scanChunkStates = CUDAKernel(name: "fv_scan_chunk_states", source: """
    extern "C" __global__ void fv_scan_chunk_states(float* chunk_state, float* chunk_decay, const float* u, const float* delta,
                                                    const float* a, const float* dbc, int batch, int steps, int e, int n,
                                                    int ld_bc, int r, int reverse, int chunk, int chunks) {
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
            s = da * s + d * dbc[row * ld_bc + r + i] * u[row * e + c];
            decay *= da;
        }
        chunk_state[idx] = s;
        chunk_decay[idx] = decay;
    }
    """)

    /// Turns each chunk's zero-started end state into the state the chunk starts from, in
    /// place, walking the chunks in scan order: one thread per (image, channel, state).
    static let scanChunkCarry = CUDAKernel(name: "fv_scan_chunk_carry", source: """
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
    """)

    /// The lane-per-state scan of one chunk from its carried-in state. Every lane runs
    /// `chunk` iterations (the last chunk's missing steps idle) so the warp stays together
    /// for the shuffles.
    static let selectiveScanChunked = CUDAKernel(name: "fv_selective_scan_chunked", source: """
    extern "C" __global__ void fv_selective_scan_chunked(float* y, const float* u, const float* delta, const float* a,
                                                         const float* dbc, const float* chunk_start, int batch, int steps,
                                                         int e, int n, int ld_bc, int r, int reverse, int chunk, int chunks) {
        long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
        bool active = idx < (long)batch * chunks * e * n;
        long at = active ? idx : 0;
        int i = (int)(at % n), c = (int)((at / n) % e);
        int k = (int)((at / ((long)n * e)) % chunks), b = (int)(at / ((long)n * e * chunks));
        float ai = a[(long)c * n + i], s = active ? chunk_start[at] : 0.f;
        for (int t = 0; t < chunk; t++) {
            int step = k * chunk + t;
            bool live = active && step < steps;
            float acc = 0.f;
            long row = 0;
            if (live) {
                int g = reverse ? steps - 1 - step : step;
                row = (long)b * steps + g;
                float d = delta[row * e + c];
                const float* bc = dbc + row * ld_bc + r;
                s = expf(d * ai) * s + d * bc[i] * u[row * e + c];
                acc = s * bc[n + i];
            }
            for (int offset = n / 2; offset > 0; offset >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
            if (live && i == 0) y[row * e + c] = acc;
        }
    }
    """)
}
