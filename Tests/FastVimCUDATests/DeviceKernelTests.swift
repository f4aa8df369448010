@testable import FastVimCUDA
@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

/// What the stage check (`BackendOpsTests`) does not reach, kernel by kernel on the emulated
/// device: the scan at every state size up to the limit and past it, the chunked scan at odd
/// chunk lengths, a reduction over a full block, the bf16 conversion, and FastMaskVim's
/// kernels. The scans are held to the CPU engine's reference recurrence.
@Suite struct DeviceKernelTests {
    /// Inputs of one scan: (B, steps, E) u and δ, A (E, N), x_proj rows [dt | B | C] of width R + 2N.
    struct ScanInputs {
        let batch: Int, steps: Int, e: Int, n: Int, r: Int
        let u: [Float], delta: [Float], a: [Float], dbc: [Float]
        var width: Int { r + 2 * n }

        init(batch: Int, steps: Int, e: Int, n: Int, seed: UInt64) {
            var random = SplitMix64(seed: seed)
            (self.batch, self.steps, self.e, self.n, r) = (batch, steps, e, n, 3)
            u = random.floats(batch * steps * e)
            delta = random.floats(batch * steps * e).map { 0.05 + abs($0) * 0.3 }
            a = (0 ..< e * n).map { -Float($0 % n + 1) * 0.5 }
            dbc = random.floats(batch * steps * (3 + 2 * n))
        }

        /// The CPU engine's reference recurrence, image by image.
        func expected(reverse: Bool) -> [Float] {
            var y = [Float](repeating: 0, count: batch * steps * e)
            for b in 0 ..< batch {
                let shape = ScanShape(steps: steps, channels: e, state: n, ldBC: width, reverse: reverse)
                y.withUnsafeMutableBufferPointer { yp in
                    u.withUnsafeBufferPointer { up in delta.withUnsafeBufferPointer { dp in a.withUnsafeBufferPointer { ap in
                        dbc.withUnsafeBufferPointer { bc in
                            let base = bc.baseAddress! + b * steps * width + r
                            selectiveScanReference(yp.baseAddress! + b * steps * e, u: up.baseAddress! + b * steps * e,
                                                   delta: dp.baseAddress! + b * steps * e, a: ap.baseAddress!, b: base, c: base + n, shape)
                        }
                    } } }
                }
            }
            return y
        }

        func operands(_ device: EmulatedDevice, reverse: Bool) throws -> KernelCall.ScanOperands {
            KernelCall.ScanOperands(u: try device.buffer(u), delta: try device.buffer(delta), a: try device.buffer(a),
                                    dbc: try device.buffer(dbc), batch: batch, steps: steps, e: e, n: n, ldBC: width, r: r,
                                    reverse: reverse)
        }
    }

    /// Every state size shape: powers of two up to the limit, sizes that leave lanes idle, and
    /// the largest, forward and reversed.
    @Test(arguments: [1, 3, 16, 24, 64, 100, 128, 200, 256], [false, true])
    func scanMatchesTheReferenceRecurrence(_ n: Int, _ reverse: Bool) throws {
        let device = try EmulatedDevice()
        let inputs = ScanInputs(batch: 3, steps: 7, e: 5, n: n, seed: UInt64(n))
        let y = try device.buffer(count: inputs.batch * inputs.steps * inputs.e)
        try device.launch(.selectiveScan(y: y, try inputs.operands(device, reverse: reverse)))
        expectClose(try device.read(y, inputs.batch * inputs.steps * inputs.e), inputs.expected(reverse: reverse), tolerance: 1e-4,
                    "scan n \(n)\(reverse ? " reversed" : "")")
    }

    /// Past the limit the kernel writes NaN, never a partial sum (the host refuses such a
    /// model at load; this is the kernel's own guard).
    @Test func stateSizesPastTheLimitWriteNaN() throws {
        let device = try EmulatedDevice()
        let inputs = ScanInputs(batch: 1, steps: 2, e: 3, n: ScanLimits.maxStateDim + 1, seed: 9)
        let y = try device.buffer(count: inputs.steps * inputs.e)
        try device.launch(.selectiveScan(y: y, try inputs.operands(device, reverse: false)))
        #expect(try device.read(y, inputs.steps * inputs.e).allSatisfy { $0.isNaN })
    }

    /// Chunks of odd lengths, a last chunk shorter than the rest, a chunk longer than the
    /// sequence, state sizes across the lane layouts.
    @Test(arguments: [(5, 16, false), (5, 16, true), (1, 4, true), (23, 4, false), (40, 16, true), (6, 128, false), (4, 256, true), (3, 24, true)])
    func chunkedScanMatchesTheReferenceRecurrence(_ chunk: Int, _ n: Int, _ reverse: Bool) throws {
        let device = try EmulatedDevice()
        let inputs = ScanInputs(batch: 2, steps: 23, e: 3, n: n, seed: UInt64(chunk * 1000 + n))
        let chunks = (inputs.steps + chunk - 1) / chunk
        let operands = try inputs.operands(device, reverse: reverse)
        let states = try device.buffer(count: inputs.batch * chunks * inputs.e * n)
        let decays = try device.buffer(count: inputs.batch * chunks * inputs.e * n)
        let y = try device.buffer(count: inputs.batch * inputs.steps * inputs.e)
        try device.launch(.scanChunkStates(chunkState: states, chunkDecay: decays, operands, chunk: chunk, chunks: chunks))
        try device.launch(.scanChunkCarry(chunkState: states, chunkDecay: decays, batch: inputs.batch, e: inputs.e, n: n, chunks: chunks))
        try device.launch(.selectiveScanChunked(y: y, operands, chunkStart: states, chunk: chunk, chunks: chunks))
        expectClose(try device.read(y, inputs.batch * inputs.steps * inputs.e), inputs.expected(reverse: reverse), tolerance: 1e-4,
                    "chunks of \(chunk), n \(n)\(reverse ? " reversed" : "")")
    }

    /// The reduction is a tree over 256 shared slots with a barrier per level: any missing
    /// barrier or a thread running ahead would lose partial sums. Sums of squares of small
    /// integers are exact in float32, so the answer is known exactly.
    @Test func rmsnormReductionSeesEveryThread() throws {
        let device = try EmulatedDevice()
        let d = 1000
        let residual = (0 ..< d).map { Float($0 % 7 + 1) }
        let sumOfSquares = residual.reduce(0) { $0 + $1 * $1 }
        let out = try device.buffer(count: d)
        let input = try device.buffer(residual)
        try device.launch(.addRMSNorm(out: out, residual: input, hidden: input, weight: try device.buffer([Float](repeating: 1, count: d)),
                                      rows: 1, d: d, add: false, eps: 0))
        let scale = 1 / (sumOfSquares / Float(d)).squareRoot()
        expectClose(try device.read(out, d), residual.map { $0 * scale }, tolerance: 1e-6, "rmsnorm over 256 threads")
    }

    /// The CUDA device's bf16 conversion (not a forward-pass kernel): round to nearest even
    /// as `roundToBFloat16`, through a leading dimension; NaNs stay quiet NaNs.
    @Test func toBF16() throws {
        let device = try EmulatedDevice()
        let bits: [UInt32] = [0x3f80_0000, 0x3f80_8000, 0x3f81_8000, 0x3f80_8001, 0xbf80_7fff, 0x7f7f_ffff, 0x7f80_0000, 0xff80_0000,
                              0x0000_0001, 0x8000_0000, 0x7f80_0001, 0xffc0_1234]
        let (rows, cols, ld) = (3, 4, 5)
        var x = [Float](repeating: -7, count: rows * ld)
        for (i, b) in bits.enumerated() { x[i / cols * ld + i % cols] = Float(bitPattern: b) }
        let out = try device.allocate(bytes: rows * cols * 2)
        try device.launch(.toBF16(out: out, x: try device.buffer(x), rows: rows, cols: cols, ld: ld))
        var half = [UInt16](repeating: 0, count: rows * cols)
        try half.withUnsafeMutableBytes { try device.download(out, into: $0) }
        for (i, b) in bits.enumerated() {
            let value = Float(bitPattern: b)
            if value.isNaN {
                #expect(half[i] & 0x7f80 == 0x7f80 && half[i] & 0x0040 != 0, "NaN \(String(b, radix: 16)) -> \(String(half[i], radix: 16))")
            } else {
                #expect(half[i] == UInt16(roundToBFloat16(value).bitPattern >> 16), "\(String(b, radix: 16)) -> \(String(half[i], radix: 16))")
            }
        }
    }

    // MARK: - FastMaskVim

    @Test func gatherKept() throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 21)
        let (batch, positions, k, d) = (2, 12, 5, 7)
        let ids = [0, 3, 4, 9, 11, 1, 2, 5, 6, 10]
        let patches = random.floats(batch * positions * d), bias = random.floats(d), pos = random.floats(positions * d)
        let out = try device.buffer(count: batch * k * d)
        try device.launch(.gatherKept(hidden: out, patches: try device.buffer(patches), bias: try device.buffer(bias),
                                      pos: try device.buffer(pos), ids: try device.indices(ids), batch: batch, positions: positions,
                                      k: k, d: d))
        var expected = [Float](repeating: 0, count: batch * k * d)
        for b in 0 ..< batch { for t in 0 ..< k { for c in 0 ..< d {
            let id = ids[b * k + t]
            expected[(b * k + t) * d + c] = patches[(b * positions + id) * d + c] + bias[c] + pos[id * d + c]
        } } }
        expectClose(try device.read(out, batch * k * d), expected, "gather kept")
    }

    /// Gathering by an order and scattering back by it is the identity.
    @Test func permuteTokensRoundTrips() throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 22)
        let (batch, k, d) = (2, 5, 3)
        let order = [2, 0, 4, 1, 3, 4, 3, 2, 1, 0]
        let x = random.floats(batch * k * d)
        let (px, gathered, back, pOrder) = (try device.buffer(x), try device.buffer(count: batch * k * d), try device.buffer(count: batch * k * d),
                                             try device.indices(order))
        try device.launch(.permuteTokens(out: gathered, x: px, order: pOrder, batch: batch, k: k, d: d, scatter: false))
        try device.launch(.permuteTokens(out: back, x: gathered, order: pOrder, batch: batch, k: k, d: d, scatter: true))
        var expected = [Float](repeating: 0, count: batch * k * d)
        for b in 0 ..< batch { for slot in 0 ..< k { for c in 0 ..< d {
            expected[(b * k + slot) * d + c] = x[(b * k + order[b * k + slot]) * d + c]
        } } }
        expectClose(try device.read(gathered, batch * k * d), expected, "gathered")
        expectClose(try device.read(back, batch * k * d), x, "scattered back")
    }

    /// Row sums times the scale, the backward branch from each token's mirror; an empty row is zero.
    @Test func maskedPool() throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 23)
        let (batch, k, groups, e, scale) = (2, 5, 4, 6, Float(0.25))
        let rows = [0, 0, 2, 3, 3, 1, 1, 1, 2, 3] // image 0 leaves row 1 empty
        let xf = random.floats(batch * k * e), xb = random.floats(batch * k * e)
        let (pf, pb) = (try device.buffer(count: batch * groups * e), try device.buffer(count: batch * groups * e))
        try device.launch(.maskedPool(pooledF: pf, pooledB: pb, xF: try device.buffer(xf), xB: try device.buffer(xb),
                                      rowOf: try device.indices(rows), batch: batch, k: k, groups: groups, e: e, scale: scale))
        var ef = [Float](repeating: 0, count: batch * groups * e), eb = ef
        for b in 0 ..< batch { for t in 0 ..< k { for c in 0 ..< e {
            let at = (b * groups + rows[b * k + t]) * e + c
            ef[at] += xf[(b * k + t) * e + c] * scale
            eb[at] += xb[(b * k + (k - 1 - t)) * e + c] * scale
        } } }
        expectClose(try device.read(pf, batch * groups * e), ef, "forward rows")
        expectClose(try device.read(pb, batch * groups * e), eb, "backward rows")
    }
}
