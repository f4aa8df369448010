@testable import FastVimCUDA
import Testing
import TestSupport

/// The emulated device itself: GEMMs and their precisions, the checks made before a
/// launch, and that the emulator would expose a missing barrier rather than hide it.
@Suite struct EmulatedDeviceTests {
    @Test(arguments: GemmPrecision.allCases, [false, true])
    func gemmNT(_ precision: GemmPrecision, _ accumulate: Bool) throws {
        let device = try EmulatedDevice(precision: precision)
        var random = SplitMix64(seed: 11)
        let (m, n, k, lda, ldb, ldOut) = (13, 17, 70, 72, 75, 19)
        let a = random.floats(m * lda), b = random.floats(n * ldb), initial = random.floats(m * ldOut)
        let out = try device.buffer(initial)
        try device.gemmNT(out: out, ldOut: ldOut, a: try device.buffer(a), lda: lda, b: try device.buffer(b), ldb: ldb,
                          m: m, n: n, k: k, accumulate: accumulate)
        // The reference sees the inputs already rounded: what is left is float32 accumulation.
        let expected = Self.gemmNT(a: a.map(precision.rounded), lda: lda, b: b.map(precision.rounded), ldb: ldb,
                                              out: initial, ldOut: ldOut, m: m, n: n, k: k, accumulate: accumulate)
        expectClose(try device.read(out, m * ldOut), expected, "\(precision) gemm")
        if precision != .fp32 {
            let exact = Self.gemmNT(a: a, lda: lda, b: b, ldb: ldb, out: initial, ldOut: ldOut, m: m, n: n, k: k, accumulate: accumulate)
            let worst = zip(try device.read(out, m * ldOut), exact).map { abs($0 - $1) }.max()!
            #expect(worst > 1e-5, "\(precision) rounding should show against float32 inputs")
        }
    }

    @Test func pointersOutsideAllocationsAreRefusedBeforeLaunching() throws {
        let device = try EmulatedDevice()
        let x = try device.buffer([1, 2, 3]), bias = try device.buffer([10, 20, 30])
        #expect(throws: CUDAError.self) {
            try device.launch(.addRowBias(x: x, bias: DevicePointer(address: 64), rows: 1, cols: 3))
        }
        #expect(try device.read(x, 3) == [1, 2, 3], "a refused launch must not have run")
        try device.launch(.addRowBias(x: x, bias: bias, rows: 1, cols: 3))
        #expect(try device.read(x, 3) == [11, 22, 33])
    }

    @Test func copiesStayInsideAllocations() throws {
        let device = try EmulatedDevice()
        let p = try device.buffer([1, 2, 3, 4])
        #expect(try device.read(p.advanced(byFloats: 1), 3) == [2, 3, 4])
        #expect(throws: CUDAError.self) { _ = try device.read(p.advanced(byFloats: 1), 4) }
        device.free(p)
        #expect(throws: CUDAError.self) { _ = try device.read(p, 1) }
    }

    @Test func kernelsOutsideTheDeviceAreRefused() throws {
        let device = try EmulatedDevice()
        let p = try device.buffer([0])
        #expect(throws: CUDAError.self) { try device.launch(testKernel: "fv_stranger", .elementwise(1), [.pointer(p)]) }
    }

    @Test func compilerErrorsCarryTheLog() {
        #expect {
            _ = try EmulatedDevice(testSources: ["extern \"C\" __global__ void fv_broken(float* x) { x[0] = undefined_name; }"])
        } throws: { error in
            guard case let .compilation(kernel, log) = error as? CUDAError else { return false }
            return kernel.contains("test-0.cu") && log.contains("undefined_name")
        }
    }

    /// Each thread writes its slot, then reads its neighbour's. With the barrier every read
    /// sees the neighbour's write; without it the emulator (threads run in order until they
    /// block) hands back what was there before, as a GPU may: the race shows instead of hiding.
    @Test func missingBarriersShow() throws {
        func rotate(_ name: String, barrier: Bool) -> String {
            """
            extern "C" __global__ void \(name)(float* out, int n) {
                __shared__ float slot[256];
                slot[threadIdx.x] = blockIdx.x * 1000.f + threadIdx.x;
                \(barrier ? "__syncthreads();" : "")
                out[blockIdx.x * blockDim.x + threadIdx.x] = slot[(threadIdx.x + 1) % blockDim.x];
            }
            """
        }
        let device = try EmulatedDevice(testSources: [rotate("fv_test_rotate_synced", barrier: true), rotate("fv_test_rotate_racy", barrier: false)])
        let (blocks, threads) = (3, 256)
        let expected = (0 ..< blocks * threads).map { i in Float((i / threads) * 1000 + (i % threads + 1) % threads) }
        let out = try device.buffer(count: blocks * threads)
        try device.launch(testKernel: "fv_test_rotate_synced", LaunchShape(grid: blocks, block: threads), [.pointer(out), .int(0)])
        #expect(try device.read(out, blocks * threads) == expected)
        try device.launch(testKernel: "fv_test_rotate_racy", LaunchShape(grid: blocks, block: threads), [.pointer(out), .int(0)])
        #expect(try device.read(out, blocks * threads) != expected)
    }

    /// Warp shuffles exchange within warps of 32 and see every lane's value of this round.
    @Test func shufflesExchangeWithinWarps() throws {
        let kernel = """
        extern "C" __global__ void fv_test_shuffles(float* xor_out, float* down_out, int rounds) {
            float v = threadIdx.x, w = threadIdx.x;
            for (int r = 0; r < rounds; r++) {
                for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
                for (int offset = 16; offset > 0; offset >>= 1) w += __shfl_down_sync(0xffffffffu, w, offset);
            }
            xor_out[threadIdx.x] = v;
            down_out[threadIdx.x] = w;
        }
        """
        let device = try EmulatedDevice(testSources: [kernel])
        let threads = 96
        let (xorOut, downOut) = (try device.buffer(count: threads), try device.buffer(count: threads))
        try device.launch(testKernel: "fv_test_shuffles", LaunchShape(grid: 1, block: threads), [.pointer(xorOut), .pointer(downOut), .int(1)])
        // Butterfly: every lane ends with its warp's sum. Tree down: lane 0 holds it.
        let sums: [Float] = (0 ..< threads).map { t -> Float in
            let warp = t / 32 * 32
            return Float(32 * warp + 31 * 32 / 2)
        }
        #expect(try device.read(xorOut, threads) == sums)
        let down = try device.read(downOut, threads)
        #expect(stride(from: 0, to: threads, by: 32).allSatisfy { down[$0] == sums[$0] })
    }

    /// out (m, n) = a (m, k) · b (n, k)ᵀ (+ out), in Double: the oracle for the device's GEMMs.
    static func gemmNT(a: [Float], lda: Int, b: [Float], ldb: Int, out: [Float], ldOut: Int, m: Int, n: Int, k: Int,
                       accumulate: Bool) -> [Float] {
        var out = out
        for i in 0 ..< m { for j in 0 ..< n {
            let dot = (0 ..< k).reduce(0.0) { $0 + Double(a[i * lda + $1]) * Double(b[j * ldb + $1]) }
            out[i * ldOut + j] = Float(dot + (accumulate ? Double(out[i * ldOut + j]) : 0))
        } }
        return out
    }
}
