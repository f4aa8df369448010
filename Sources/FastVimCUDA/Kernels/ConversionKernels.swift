extension CUDAKernel {
    /// float32 (rows, cols) with leading dimension `ld` -> packed bfloat16 (rows, cols), the
    /// operands of bf16 GEMMs. Rounds to nearest even like PyTorch's `.to(torch.bfloat16)`;
    /// NaNs stay (quiet) NaNs instead of rounding into infinities. The bits are written as
    /// `unsigned short` so NVRTC needs no cuda_bf16.h (not every NVRTC install ships it).
    static let toBF16 = CUDAKernel(name: "fv_to_bf16", source: """
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
    """)

    /// Kernels the CUDA device runs for itself (bf16 operands of its GEMMs), compiled and
    /// loaded with `all` but not part of the forward pass the emulated device mirrors.
    public static let deviceInternal: [CUDAKernel] = [toBF16]
}
