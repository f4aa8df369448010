// AVX-512 instructions Swift's SIMD types cannot name, one intrinsic per function, for the
// engine's vector exp (FastMath.swift). Static inline with the target attribute: this header
// compiles for any x86-64 build, Swift inlines the functions into the AVX-512 kernels, and
// no other build calls them.
#if defined(__x86_64__)
#include <immintrin.h>

typedef float fastvim_float16 __attribute__((ext_vector_type(16)));

// x · 2^⌊n⌋ (vscalefps): the exponent step of exp in one instruction, with IEEE overflow to
// infinity and underflow through the subnormals to zero.
static inline __attribute__((always_inline, target("avx512f")))
fastvim_float16 fastvim_scalef16(fastvim_float16 x, fastvim_float16 n) {
    return (fastvim_float16)_mm512_scalef_ps((__m512)x, (__m512)n);
}

// x rounded to the nearest integer, ties to even (vrndscaleps).
static inline __attribute__((always_inline, target("avx512f")))
fastvim_float16 fastvim_round16(fastvim_float16 x) {
    return (fastvim_float16)_mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// x with its magnitude held to at most |limit|, its sign kept (vrangeps, AVX512DQ): the
// two-sided clamp of exp's argument in one instruction.
static inline __attribute__((always_inline, target("avx512f,avx512dq")))
fastvim_float16 fastvim_clamp_magnitude16(fastvim_float16 x, fastvim_float16 limit) {
    return (fastvim_float16)_mm512_range_ps((__m512)x, (__m512)limit, 0x2);
}
#endif
