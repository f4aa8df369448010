extension CUDADevice {
    /// A float32 (rows, cols) operand with leading dimension `ld`, as converted to bf16 once.
    struct WeightKey: Hashable {
        let address: UInt64, rows: Int, cols: Int, ld: Int

        /// The bytes the conversion reads.
        var bytes: Range<UInt64> { address ..< address + UInt64(((rows - 1) * ld + cols) * 4) }
    }

    /// Row-major out (m, n) = a (m, k) · b (n, k)ᵀ (+ out) through cuBLAS. fp32 and tf32 are
    /// cublasSgemm_v2 (tf32 by the handle's math mode); bf16 converts a into a scratch buffer
    /// at every call and b once (it is a weight: the copy is kept until b is freed or
    /// uploaded to again), then runs cublasGemmEx with float32 accumulation and output.
    public func gemmNT(out: DevicePointer, ldOut: Int, a: DevicePointer, lda: Int, b: DevicePointer, ldb: Int,
                       m: Int, n: Int, k: Int, accumulate: Bool) throws(CUDAError) {
        guard m > 0, n > 0 else { return }
        // cuBLAS would answer CUBLAS_STATUS_INVALID_VALUE; this says which argument.
        guard k >= 0, lda >= max(k, 1), ldb >= max(k, 1), ldOut >= n,
              [m, n, k, lda, ldb, ldOut].allSatisfy({ $0 <= Int(Int32.max) }) else {
            throw .driver("gemmNT: m \(m), n \(n), k \(k), lda \(lda), ldb \(ldb), ldOut \(ldOut) (want lda, ldb >= k, ldOut >= n, all < 2^31)")
        }
        try locked { () throws(CUDAError) in
            try enter()
            var alpha: Float = 1
            var beta: Float = accumulate ? 1 : 0
            switch precision {
            case .fp32, .tf32:
                let g = CUBLAS.GemmNT(m: m, n: n, k: k, lda: lda, ldb: ldb, ldOut: ldOut)
                let (A, B) = g.operands(a: a, b: b)
                try blas.check(blas.sgemm(blasHandle, g.transA, g.transB, g.m, g.n, g.k, &alpha, Self.raw(A), g.lda,
                                          Self.raw(B), g.ldb, &beta, Self.raw(out), g.ldc), "cublasSgemm_v2")
            case .bf16:
                let weight = try bf16Weight(b, rows: n, cols: k, ld: ldb)
                let activations = try bf16Activations(a, rows: m, cols: k, ld: lda)
                // Both copies are packed: their leading dimension is k (at least 1, which
                // cuBLAS demands even when k = 0).
                let g = CUBLAS.GemmNT(m: m, n: n, k: k, lda: max(k, 1), ldb: max(k, 1), ldOut: ldOut)
                let (A, B) = g.operands(a: activations, b: weight)
                try blas.check(blas.gemmEx(blasHandle, g.transA, g.transB, g.m, g.n, g.k, &alpha,
                                           Self.raw(A), CUBLAS.bf16, g.lda, Self.raw(B), CUBLAS.bf16, g.ldb,
                                           &beta, Self.raw(out), CUBLAS.fp32, g.ldc, CUBLAS.compute32F, CUBLAS.gemmDefault),
                               "cublasGemmEx")
            }
        }
    }

    /// The bf16 copy of a weight, converted on first use. The caller holds the lock.
    func bf16Weight(_ source: DevicePointer, rows: Int, cols: Int, ld: Int) throws(CUDAError) -> DevicePointer {
        let key = WeightKey(address: source.address, rows: rows, cols: cols, ld: ld)
        if let copy = bf16Weights[key] { return copy }
        let copy = try rawAllocate(rows * cols * 2)
        do throws(CUDAError) {
            if capturing {
                // Queued on the capturing stream the conversion would become part of the graph
                // and run at every replay, and the copy would stay unconverted until the first
                // one. A second stream runs it now; the weights are on the device already, as
                // captureGraph waited for the stream before capturing.
                if sideStream == nil {
                    try api.check(api.streamCreate(&sideStream, DriverAPI.streamNonBlocking), "cuStreamCreate")
                }
                try convert(source, rows: rows, cols: cols, ld: ld, into: copy, on: sideStream)
                try api.check(api.streamSynchronize(sideStream), "cuStreamSynchronize")
            } else {
                try convert(source, rows: rows, cols: cols, ld: ld, into: copy, on: stream)
            }
        } catch {
            rawFree(copy)
            throw error
        }
        bf16Weights[key] = copy
        return copy
    }

    /// Activations converted into the scratch buffer, grown as needed. The caller holds the lock.
    func bf16Activations(_ source: DevicePointer, rows: Int, cols: Int, ld: Int) throws(CUDAError) -> DevicePointer {
        let bytes = rows * cols * 2
        if (bf16Scratch?.bytes ?? -1) < bytes {
            if let old = bf16Scratch { release(old.pointer) }
            bf16Scratch = nil
            // Whole MiBs, so a pass of slightly different GEMM sizes does not regrow it at each one.
            let size = ((bytes + (1 << 20) - 1) >> 20) << 20
            bf16Scratch = (try rawAllocate(size), size)
        }
        let scratch = bf16Scratch!.pointer
        try convert(source, rows: rows, cols: cols, ld: ld, into: scratch, on: stream)
        return scratch
    }

    func convert(_ source: DevicePointer, rows: Int, cols: Int, ld: Int, into out: DevicePointer,
                 on stream: OpaquePointer?) throws(CUDAError) {
        let count = rows * cols
        guard count > 0 else { return }
        try queue(.toBF16(out: out, x: source, rows: rows, cols: cols, ld: ld), on: stream)
    }

    /// Forgets (and frees, or retires while a graph may read them) the bf16 copies made from
    /// bytes in [start, start + bytes): their source is being freed or overwritten.
    func dropBF16Copies(overlapping start: UInt64, bytes: Int) {
        guard !bf16Weights.isEmpty else { return }
        let range = start ..< start + UInt64(max(bytes, 1))
        for (key, copy) in bf16Weights where key.bytes.overlaps(range) {
            bf16Weights[key] = nil
            release(copy)
        }
    }
}
