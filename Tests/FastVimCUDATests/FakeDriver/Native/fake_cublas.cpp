// A fake libcublas.so.12: the cuBLAS calls FastVimCUDA makes (CUBLAS.swift), under
// cublas_api.h's (CUDA 12) names and C ABI. A GEMM is the BLAS definition, column-major:
// C (m x n) = alpha op(A) (m x k) op(B) (k x n) + beta C, with A, B, C read through lda,
// ldb, ldc, computed by cblas_sgemm(CblasColMajor, ...) on the operands exactly as passed.
// A row-major caller only gets its product back if it maps its layout onto cuBLAS's
// correctly, which is what this is here to check. The work is queued on the handle's
// stream through the fake driver, so GEMMs are captured into graphs like kernels.
#include "fake_driver.h"

#include <cblas.h>
#include <math.h>
#include <mutex>
#include <set>
#include <stdio.h>
#include <string.h>
#include <vector>

namespace {
enum : int {
    OK = 0, NOT_INITIALIZED = 1, ALLOC_FAILED = 3, INVALID_VALUE = 7, ARCH_MISMATCH = 8, MAPPING_ERROR = 11,
    EXECUTION_FAILED = 13, INTERNAL_ERROR = 14, NOT_SUPPORTED = 15, LICENSE_ERROR = 16,
};
// cublasOperation_t, cublasMath_t, cudaDataType (library_types.h), cublasComputeType_t, cublasGemmAlgo_t.
enum { OP_N = 0, OP_T = 1, OP_C = 2 };
enum { DEFAULT_MATH = 0, TENSOR_OP_MATH = 1, PEDANTIC_MATH = 2, TF32_TENSOR_OP_MATH = 3, DISALLOW_REDUCED_PRECISION_REDUCTION = 16 };
enum { R_32F = 0, R_16BF = 14 };
enum { COMPUTE_32F = 68 };
enum { GEMM_DEFAULT = -1, GEMM_ALGO23 = 23, GEMM_DEFAULT_TENSOR_OP = 99, GEMM_ALGO15_TENSOR_OP = 115 };

struct Handle {
    void* stream = nullptr;
    int math = DEFAULT_MATH;
    void* workspace = nullptr;
    size_t workspaceBytes = 0;
    bool ownWorkspace = false; // set by cublasSetWorkspace, reset by cublasSetStream
};

std::mutex mutex;
std::set<Handle*> handles;

struct Operand {
    uint64_t address;
    int type, rows, cols, ld; // column-major rows x cols, as stored
    size_t bytes() const { return rows == 0 || cols == 0 ? 0 : (size_t(cols - 1) * ld + rows) * (type == R_16BF ? 2 : 4); }
};

struct Gemm {
    int transa, transb, m, n, k;
    float alpha, beta;
    Operand a, b, c;
    bool tf32;
};

float tf32(float x) {
    if (isnan(x)) return x;
    uint32_t bits;
    memcpy(&bits, &x, 4);
    bits += 0xfffu + ((bits >> 13) & 1u);
    bits &= ~0x1fffu;
    memcpy(&x, &bits, 4);
    return x;
}

// The operand as packed float32 (leading dimension `rows`) when it is not float32 already
// or TF32 rounds it; empty when it can be used as it is.
std::vector<float> widened(const Operand& o, bool roundTF32) {
    std::vector<float> out;
    if (o.type == R_32F && !roundTF32) return out;
    out.resize(size_t(o.rows) * o.cols);
    for (int j = 0; j < o.cols; j++) {
        for (int i = 0; i < o.rows; i++) {
            size_t at = size_t(j) * o.ld + i;
            float v;
            if (o.type == R_16BF) {
                uint32_t bits = uint32_t(((const uint16_t*)uintptr_t(o.address))[at]) << 16;
                memcpy(&v, &bits, 4);
            } else {
                v = ((const float*)uintptr_t(o.address))[at];
            }
            out[size_t(j) * o.rows + i] = roundTF32 ? tf32(v) : v;
        }
    }
    return out;
}

void run(void* state) {
    const Gemm& g = *(const Gemm*)state;
    const char* names[] = {"A", "B", "C"};
    const Operand* operands[] = {&g.a, &g.b, &g.c};
    for (int i = 0; i < 3; i++) {
        if (i < 2 && (g.k == 0 || g.alpha == 0)) continue;
        if (!fvfake_device_range(operands[i]->address, operands[i]->bytes())) {
            char text[200];
            snprintf(text, sizeof text, "cuBLAS GEMM m %d n %d k %d: %s (0x%llx, %zu bytes) is outside every live device allocation",
                     g.m, g.n, g.k, names[i], (unsigned long long)operands[i]->address, operands[i]->bytes());
            return fvfake_fault(text);
        }
    }
    float* c = (float*)uintptr_t(g.c.address);
    // beta = 0 means C is not read (it may hold NaNs), as BLAS and cuBLAS define it.
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++) c[size_t(j) * g.c.ld + i] = g.beta == 0 ? 0.f : g.beta * c[size_t(j) * g.c.ld + i];
    fvfake_count("gemms_run", 1);
    if (g.k == 0 || g.alpha == 0) return;
    std::vector<float> a = widened(g.a, g.tf32), b = widened(g.b, g.tf32);
    const float* pa = a.empty() ? (const float*)uintptr_t(g.a.address) : a.data();
    const float* pb = b.empty() ? (const float*)uintptr_t(g.b.address) : b.data();
    int lda = a.empty() ? g.a.ld : g.a.rows, ldb = b.empty() ? g.b.ld : g.b.rows;
    cblas_sgemm(CblasColMajor, g.transa == OP_N ? CblasNoTrans : CblasTrans, g.transb == OP_N ? CblasNoTrans : CblasTrans,
                g.m, g.n, g.k, g.alpha, pa, lda, pb, ldb, 1.0f, c, g.c.ld);
}

void release(void* state) { delete (Gemm*)state; }

Handle* find(void* handle) {
    auto it = handles.find((Handle*)handle);
    return it == handles.end() ? nullptr : *it;
}

int gemm(void* handle, int transa, int transb, int m, int n, int k, const float* alpha, uint64_t a, int atype, int lda,
         uint64_t b, int btype, int ldb, const float* beta, uint64_t c, int ldc) {
    std::lock_guard<std::mutex> guard(mutex);
    Handle* h = find(handle);
    if (!h) return NOT_INITIALIZED;
    // The argument checks of the reference BLAS (and cuBLAS): op(A) is m x k, op(B) k x n.
    bool ta = transa != OP_N, tb = transb != OP_N;
    if (transa < OP_N || transa > OP_C || transb < OP_N || transb > OP_C || m < 0 || n < 0 || k < 0 ||
        lda < (ta ? (k > 1 ? k : 1) : (m > 1 ? m : 1)) || ldb < (tb ? (n > 1 ? n : 1) : (k > 1 ? k : 1)) ||
        ldc < (m > 1 ? m : 1) || !alpha || !beta)
        return INVALID_VALUE;
    fvfake_count("gemms", 1);
    if (!h->ownWorkspace) fvfake_count("gemms_on_default_workspace", 1);
    if (m == 0 || n == 0) return OK;
    // CUBLAS_POINTER_MODE_HOST: alpha and beta are read now, so a capture holds their values.
    Gemm* g = new Gemm{transa, transb, m, n, k, *alpha, *beta,
                       Operand{a, atype, ta ? k : m, ta ? m : k, lda}, Operand{b, btype, tb ? n : k, tb ? k : n, ldb},
                       Operand{c, R_32F, m, n, ldc}, atype == R_32F && (h->math & 0xf) == TF32_TENSOR_OP_MATH};
    return fvfake_submit(h->stream, run, g, release) == 0 ? OK : EXECUTION_FAILED;
}
} // namespace

extern "C" {
int cublasCreate_v2(void** handle) {
    std::lock_guard<std::mutex> guard(mutex);
    if (!handle) return INVALID_VALUE;
    // cuBLAS works in the calling thread's current context.
    if (!fvfake_context_current()) return NOT_INITIALIZED;
    Handle* h = new Handle;
    handles.insert(h);
    *handle = h;
    fvfake_count("cublas_handles", 1);
    return OK;
}

int cublasDestroy_v2(void* handle) {
    std::lock_guard<std::mutex> guard(mutex);
    Handle* h = find(handle);
    if (!h) return NOT_INITIALIZED;
    handles.erase(h);
    delete h;
    fvfake_count("cublas_handles", -1);
    return OK;
}

int cublasSetStream_v2(void* handle, void* stream) {
    std::lock_guard<std::mutex> guard(mutex);
    Handle* h = find(handle);
    if (!h) return NOT_INITIALIZED;
    h->stream = stream;
    // As documented: cublasSetStream resets the workspace to cuBLAS's default pool.
    h->workspace = nullptr;
    h->workspaceBytes = 0;
    h->ownWorkspace = false;
    return OK;
}

int cublasSetWorkspace_v2(void* handle, void* workspace, size_t bytes) {
    std::lock_guard<std::mutex> guard(mutex);
    Handle* h = find(handle);
    if (!h) return NOT_INITIALIZED;
    if (uintptr_t(workspace) % 256 != 0) return INVALID_VALUE;
    if (bytes > 0 && !fvfake_device_range(uint64_t(uintptr_t(workspace)), bytes)) return INVALID_VALUE;
    h->workspace = workspace;
    h->workspaceBytes = bytes;
    h->ownWorkspace = true;
    return OK;
}

int cublasSetMathMode(void* handle, int mode) {
    std::lock_guard<std::mutex> guard(mutex);
    Handle* h = find(handle);
    if (!h) return NOT_INITIALIZED;
    if ((mode & 0xf) > TF32_TENSOR_OP_MATH || (mode & ~0xf & ~DISALLOW_REDUCED_PRECISION_REDUCTION)) return INVALID_VALUE;
    h->math = mode;
    return OK;
}

int cublasSgemm_v2(void* handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* a, int lda,
                   const float* b, int ldb, const float* beta, float* c, int ldc) {
    return gemm(handle, transa, transb, m, n, k, alpha, uint64_t(uintptr_t(a)), R_32F, lda, uint64_t(uintptr_t(b)), R_32F, ldb,
                beta, uint64_t(uintptr_t(c)), ldc);
}

int cublasGemmEx(void* handle, int transa, int transb, int m, int n, int k, const void* alpha, const void* a, int atype, int lda,
                 const void* b, int btype, int ldb, const void* beta, void* c, int ctype, int ldc, int compute, int algo) {
    // The combinations the fake computes: bf16 or fp32 inputs, fp32 output and accumulation.
    bool types = atype == btype && (atype == R_16BF || atype == R_32F) && ctype == R_32F && compute == COMPUTE_32F;
    bool known = (algo >= GEMM_DEFAULT && algo <= GEMM_ALGO23) || (algo >= GEMM_DEFAULT_TENSOR_OP && algo <= GEMM_ALGO15_TENSOR_OP);
    if (!known) return INVALID_VALUE;
    if (!types) return NOT_SUPPORTED;
    return gemm(handle, transa, transb, m, n, k, (const float*)alpha, uint64_t(uintptr_t(a)), atype, lda, uint64_t(uintptr_t(b)),
                btype, ldb, (const float*)beta, uint64_t(uintptr_t(c)), ldc);
}

const char* cublasGetStatusName(int status) {
    switch (status) {
    case OK: return "CUBLAS_STATUS_SUCCESS";
    case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

const char* cublasGetStatusString(int status) {
    switch (status) {
    case OK: return "success";
    case NOT_INITIALIZED: return "the library was not initialized";
    case ALLOC_FAILED: return "the resource allocation failed";
    case INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case ARCH_MISMATCH: return "an absent device architectural feature is required";
    case MAPPING_ERROR: return "an access to GPU memory space failed";
    case EXECUTION_FAILED: return "the GPU program failed to execute";
    case INTERNAL_ERROR: return "an internal operation failed";
    case NOT_SUPPORTED: return "the functionality requested is not supported";
    case LICENSE_ERROR: return "the functionality requested requires some license";
    default: return "unknown error";
    }
}
}
