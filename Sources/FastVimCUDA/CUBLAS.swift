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
    /// cublasSetStream_v2(handle, cudaStream_t): a CUstream is a cudaStream_t.
    typealias SetStream = @convention(c) (Handle, OpaquePointer?) -> Int32
    typealias SetMathMode = @convention(c) (Handle, Int32) -> Int32
    /// cublasSetWorkspace_v2(handle, void* workspace, size_t bytes)
    typealias SetWorkspace = @convention(c) (Handle, UnsafeMutableRawPointer?, Int) -> Int32
    /// cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta,
    /// C, Ctype, ldc, cublasComputeType_t, cublasGemmAlgo_t)
    typealias GemmEx = @convention(c) (Handle, Int32, Int32, Int32, Int32, Int32, UnsafeRawPointer,
                                       UnsafeRawPointer?, Int32, Int32, UnsafeRawPointer?, Int32, Int32, UnsafeRawPointer,
                                       UnsafeMutableRawPointer?, Int32, Int32, Int32, Int32) -> Int32
    typealias StatusText = @convention(c) (Int32) -> UnsafePointer<CChar>?

    // cublas_api.h and library_types.h values.
    static let opN: Int32 = 0, opT: Int32 = 1 // CUBLAS_OP_N, CUBLAS_OP_T
    static let tf32TensorOpMath: Int32 = 3 // CUBLAS_TF32_TENSOR_OP_MATH
    static let defaultMath: Int32 = 0 // CUBLAS_DEFAULT_MATH
    static let bf16: Int32 = 14 // CUDA_R_16BF
    static let fp32: Int32 = 0 // CUDA_R_32F
    static let compute32F: Int32 = 68 // CUBLAS_COMPUTE_32F
    static let gemmDefault: Int32 = -1 // CUBLAS_GEMM_DEFAULT

    public let library: DynamicLibrary
    let create: Create
    let destroy: Destroy
    let sgemm: Sgemm
    let setStream: SetStream
    let setMathMode: SetMathMode
    let setWorkspace: SetWorkspace
    let gemmEx: GemmEx
    /// cublasGetStatusName / cublasGetStatusString, cuBLAS 11.4.2 and later; nil before.
    let statusName: StatusText?, statusString: StatusText?

    public init(directories: [String] = CUDALibraryPath.directories()) throws(CUDAError) {
        library = try DynamicLibrary(names: ["libcublas.so.12", "libcublas.so.13", "libcublas.so.11", "libcublas.so"],
                                     directories: directories, what: "cuBLAS (libcublas)")
        create = try library.symbol("cublasCreate_v2", as: Create.self)
        destroy = try library.symbol("cublasDestroy_v2", as: Destroy.self)
        sgemm = try library.symbol("cublasSgemm_v2", as: Sgemm.self)
        setStream = try library.symbol("cublasSetStream_v2", as: SetStream.self)
        setMathMode = try library.symbol("cublasSetMathMode", as: SetMathMode.self)
        setWorkspace = try library.symbol("cublasSetWorkspace_v2", as: SetWorkspace.self)
        gemmEx = try library.symbol("cublasGemmEx", as: GemmEx.self)
        statusName = try? library.symbol("cublasGetStatusName", as: StatusText.self)
        statusString = try? library.symbol("cublasGetStatusString", as: StatusText.self)
    }

    /// Throws `CUDAError.driver("cublasXxx failed: CUBLAS_STATUS_...: description")` unless
    /// `status` is CUBLAS_STATUS_SUCCESS.
    func check(_ status: Int32, _ function: String) throws(CUDAError) {
        guard status != 0 else { return }
        let name = statusName?(status).map { String(cString: $0) } ?? "cublasStatus_t \(status)"
        let text = statusString?(status).map { ": " + String(cString: $0) } ?? ""
        throw .driver("\(function) failed: \(name)\(text)")
    }

    /// The column-major cuBLAS call computing the row-major out (m, n) = a (m, k) · bᵀ with
    /// b stored (n, k), as the CPU engine's gemmNT. A row-major (r, c) matrix with leading
    /// dimension ld is the column-major (c, r) matrix with the same ld, so cuBLAS computes
    /// outᵀ (n, m) = b · aᵀ: its A is b read transposed (CUBLAS_OP_T, ld ldb), its B is a
    /// as stored (CUBLAS_OP_N, ld lda), its C is out (ld ldOut).
    public struct GemmNT: Equatable, Sendable {
        public let transA: Int32, transB: Int32
        public let m: Int32, n: Int32, k: Int32
        public let lda: Int32, ldb: Int32, ldc: Int32

        public init(m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldOut: Int) {
            transA = CUBLAS.opT
            transB = CUBLAS.opN
            self.m = Int32(n)
            self.n = Int32(m)
            self.k = Int32(k)
            self.lda = Int32(ldb)
            self.ldb = Int32(lda)
            ldc = Int32(ldOut)
        }

        /// cuBLAS's A and B operands for the row-major a and b, in that order.
        public func operands<P>(a: P, b: P) -> (A: P, B: P) { (b, a) }
    }
}
