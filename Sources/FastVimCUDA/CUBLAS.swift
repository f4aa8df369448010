/// cuBLAS (libcublas.so.12), opened with dlopen: the GEMMs of the CUDA backend (patch
/// embedding, in_proj, x_proj, dt_proj, out_proj, head) in the same row-major layout the
/// CPU engine uses, expressed as cuBLAS's column-major calls.
public final class CUBLAS: @unchecked Sendable {
    public typealias Handle = OpaquePointer?
    typealias Create = @convention(c) (UnsafeMutablePointer<Handle>) -> Int32
    typealias Destroy = @convention(c) (Handle) -> Int32
    /// cublasSgemm_v2(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    typealias Sgemm = @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>,
                                      UnsafeRawPointer?, Int32, UnsafeRawPointer?, Int32, UnsafePointer<Float>,
                                      UnsafeMutableRawPointer?, Int32) -> Int32

    public let library: DynamicLibrary
    let create: Create
    let destroy: Destroy
    let sgemm: Sgemm

    public init(directories: [String] = CUDALibraryPath.directories()) throws(CUDAError) {
        library = try DynamicLibrary(names: ["libcublas.so.12", "libcublas.so.13", "libcublas.so.11", "libcublas.so"],
                                     directories: directories, what: "cuBLAS (libcublas)")
        create = try library.symbol("cublasCreate_v2", as: Create.self)
        destroy = try library.symbol("cublasDestroy_v2", as: Destroy.self)
        sgemm = try library.symbol("cublasSgemm_v2", as: Sgemm.self)
    }

    /// The column-major cuBLAS call computing the row-major out (m, n) = a (m, k) · bᵀ with
    /// b stored (n, k), as the CPU engine's gemmNT: cuBLAS sees outᵀ (n, m) = b (n, k) · aᵀ,
    /// i.e. op(A) = bᵀ-transposed (CUBLAS_OP_T on b with ld ldb) and op(B) = a (CUBLAS_OP_N, ld lda).
    public struct GemmNT: Equatable, Sendable {
        public let transA: Int32, transB: Int32
        public let m: Int32, n: Int32, k: Int32
        public let lda: Int32, ldb: Int32, ldc: Int32

        public init(m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldOut: Int) {
            // CUBLAS_OP_N = 0, CUBLAS_OP_T = 1
            transA = 1
            transB = 0
            self.m = Int32(n)
            self.n = Int32(m)
            self.k = Int32(k)
            self.lda = Int32(ldb)
            self.ldb = Int32(lda)
            ldc = Int32(ldOut)
        }
    }
}
