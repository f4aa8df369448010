@testable import FastVimEngine
import Foundation
import Testing
import TestSupport

/// Optimised kernels against their plain oracles, on shapes that exercise the vector tails.
@Suite struct KernelTests {
    struct Rand {
        var state: UInt64
        mutating func next(_ lo: Float = -1, _ hi: Float = 1) -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
        }
    }

    /// Random scan operands: u, δ > 0, A < 0 as (E, N) and in the scan's layout, and the
    /// x_proj rows [dt | B | C] of `width` values per step.
    static func scanInputs(steps: Int, channels e: Int, states n: Int, width w: Int, seed: UInt64)
        -> (u: [Float], delta: [Float], a: [Float], aBlocked: [Float], dbc: [Float]) {
        var rng = Rand(state: seed)
        let u = (0 ..< steps * e).map { _ in rng.next() }
        let delta = (0 ..< steps * e).map { _ in rng.next(0.001, 2) }
        let a = (0 ..< e * n).map { _ in -rng.next(0.01, 16) }
        var aBlocked = [Float](repeating: 0, count: e * n)
        scanLayout(a, channels: e, states: n, into: &aBlocked)
        let dbc = (0 ..< steps * w).map { _ in rng.next() }
        return (u, delta, a, aBlocked, dbc)
    }

    /// Mamba's state sizes 16 to 256 with channel counts that leave vector tails.
    @Test(arguments: [(14, 384, false, 16), (14, 384, true, 16), (197, 37, false, 16), (5, 13, true, 16), (1, 8, false, 16),
                      (14, 37, false, 64), (9, 21, true, 128), (5, 13, false, 256), (3, 8, true, 256)])
    func fastScanMatchesReference(_ c: (Int, Int, Bool, Int)) {
        let (steps, e, reverse, n) = c
        let r = 4, w = r + 2 * n
        let (u, delta, a, aBlocked, dbc) = Self.scanInputs(steps: steps, channels: e, states: n, width: w, seed: 42)
        var yRef = [Float](repeating: 0, count: steps * e), yFast = yRef
        var scratch = [Float](repeating: 0, count: n * e)
        let shape = ScanShape(steps: steps, channels: e, state: n, ldBC: w, reverse: reverse)
        dbc.withUnsafeBufferPointer { p in
            selectiveScanReference(&yRef, u: u, delta: delta, a: a, b: p.baseAddress! + r, c: p.baseAddress! + r + n, shape)
            selectiveScan(&yFast, u: u, delta: delta, aBlocked: aBlocked, b: p.baseAddress! + r, c: p.baseAddress! + r + n,
                          scratch: &scratch, shape)
        }
        expectClose(yFast, yRef, atol: 1e-5 * max(1, maxAbs(yRef)), "scan \(c)")
    }

    /// The mixer scans a batch smaller than the thread count in channel slices, each starting
    /// at a multiple of eight with its A and state at c0 · N of the blocked layout: slices
    /// (the last with the vector tail) must give what one call over every channel gives.
    @Test(arguments: [37, 40, 13])
    func scanOverChannelSlicesMatchesOneCall(_ e: Int) {
        let (steps, n, r) = (9, 16, 3)
        let w = r + 2 * n
        let (u, delta, _, aBlocked, dbc) = Self.scanInputs(steps: steps, channels: e, states: n, width: w, seed: 7)
        var whole = [Float](repeating: 0, count: steps * e), sliced = whole
        var scratch = [Float](repeating: 0, count: n * e)
        dbc.withUnsafeBufferPointer { p in
            let b = p.baseAddress! + r, c = b + n
            selectiveScan(&whole, u: u, delta: delta, aBlocked: aBlocked, b: b, c: c, scratch: &scratch,
                          ScanShape(steps: steps, channels: e, state: n, ldBC: w, reverse: true))
            u.withUnsafeBufferPointer { u in delta.withUnsafeBufferPointer { d in aBlocked.withUnsafeBufferPointer { ab in
                sliced.withUnsafeMutableBufferPointer { y in scratch.withUnsafeMutableBufferPointer { st in
                    for c0 in stride(from: 0, to: e, by: 16) {
                        let count = min(16, e - c0)
                        selectiveScan(y.baseAddress! + c0, u: u.baseAddress! + c0, delta: d.baseAddress! + c0,
                                      aBlocked: ab.baseAddress! + c0 * n, b: b, c: c, scratch: st.baseAddress! + c0 * n,
                                      ScanShape(steps: steps, channels: count, state: n, ldBC: w, reverse: true, ld: e))
                    }
                } }
            } } }
        }
        #expect(sliced == whole)
    }

    /// Whole models with d_state 64, 128 and 256 (FastVim and Vim): the engine's scan against
    /// the reference recurrence through every block.
    @Test(arguments: ["fastvim-t", "vim-t"], [64, 128, 256])
    func largeStateModelsMatchTheReferenceScan(_ name: String, _ n: Int) throws {
        let spec = try #require(StandardModel(name: name)).resized(embedDim: 48, depth: 2, stateDim: n, numClasses: 7)
        let model = try VisionMamba(checkpoint: Checkpoint(random: spec, imageSize: 64, seed: UInt64(n)))
        #expect(model.architecture.stateDim == n)
        var rng = Rand(state: UInt64(n))
        let input = (0 ..< 2 * 3 * 48 * 80).map { _ in rng.next() }
        let fast = try model.logits(input: input, batch: 2, height: 48, width: 80)
        let reference = try model.logits(input: input, batch: 2, height: 48, width: 80, scan: .reference)
        #expect(fast.allSatisfy { $0.isFinite })
        expectClose(fast, reference, atol: 1e-4 * max(1, maxAbs(reference)), "\(name) d_state \(n)")
    }

    /// Every lane of the engine's vector (eight or sixteen, `FASTVIM_CPU`) against libm, each
    /// lane on a different argument.
    @Test func vectorExpIsAccurate() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let args = FloatVector((0 ..< vectorLanes).map { x + Float($0) * 0.0011 })
            let v = expV(args)
            for lane in 0 ..< vectorLanes where args[lane] < 88 {
                worst = max(worst, abs(v[lane] - expf(args[lane])) / expf(args[lane]))
            }
            x += 0.0137
        }
        #expect(worst < 5e-7, "relative error \(worst)")
        #expect(expV(FloatVector(repeating: -1000)).min() >= 0)
    }

    @Test func vectorSoftplusMatchesTheReference() {
        var worst: Float = 0
        var x: Float = -60
        while x < 60 {
            let args = FloatVector((0 ..< vectorLanes).map { x + Float($0) * 0.0013 })
            let v = softplusV(args)
            for lane in 0 ..< vectorLanes {
                let a = args[lane], ref = a > 20 ? a : log1pf(expf(a))
                worst = max(worst, abs(v[lane] - ref) / max(ref, 1e-30))
            }
            x += 0.0173
        }
        #expect(worst < 1e-6, "relative error \(worst)")
        // Above 20 the reference returns x itself, and so must the rounded sum, exactly.
        for x: Float in [20, 20.000002, 20.5, 33.3, 87, 89, 1000, 3.4e38] {
            #expect(softplusV(FloatVector(repeating: x)) == FloatVector(repeating: x), "softplus(\(x))")
        }
    }

    /// The hand-written parameter projection against plain loops, on shapes that leave a
    /// remainder everywhere (odd rows, outputs past a multiple of four, channels past eight).
    @Test(arguments: [[5, 7, 13], [14, 44, 384], [1, 3, 8], [4, 4, 17], [7, 56, 40], [9, 80, 33], [6, 50, 16]])
    func parameterProjectionMatchesPlainLoops(_ shape: [Int]) {
        let (m, n, k) = (shape[0], shape[1], shape[2])
        var rng = Rand(state: 11)
        let ldx = k + 3, ldOut = n + 2
        let x = (0 ..< m * ldx).map { _ in rng.next() }, w = (0 ..< n * k).map { _ in rng.next() }
        var out = [Float](repeating: .nan, count: m * ldOut)
        var wT = [Float](repeating: .nan, count: k * paddedWidth(n))
        paddedTranspose(w, rows: n, cols: k, into: &wT)
        projectRows(&out, ldOut: ldOut, x, ldx: ldx, wT, ldw: paddedWidth(n), m: m, n: n, k: k)
        for i in 0 ..< m {
            for j in 0 ..< n {
                var ref: Double = 0
                for c in 0 ..< k { ref += Double(x[i * ldx + c]) * Double(w[j * k + c]) }
                #expect(abs(Double(out[i * ldOut + j]) - ref) < 1e-5 * Double(k), "x_proj[\(i), \(j)] of \(m)x\(n)x\(k)")
            }
        }
        // dt_proj: the first r columns of each row are dt, E = k outputs per row.
        let r = min(n, 5), e = k
        let dtProj = (0 ..< e * r).map { _ in rng.next() }, bias = (0 ..< e).map { _ in rng.next() }
        let dtProjT = (0 ..< r * e).map { dtProj[($0 % e) * r + $0 / e] }
        var delta = [Float](repeating: .nan, count: m * e)
        deltaRows(&delta, ldDelta: e, out, ldDt: ldOut, dtProjT: dtProjT, bias: bias, m: m, e: e, r: r)
        for i in 0 ..< m {
            for c in 0 ..< e {
                var sum: Float = 0
                for j in 0 ..< r { sum += out[i * ldOut + j] * dtProj[c * r + j] }
                let ref = softplus(sum + bias[c])
                #expect(abs(delta[i * e + c] - ref) < 1e-5 * max(1, abs(ref)), "delta[\(i), \(c)] of \(m)x\(e)x\(r)")
            }
        }
    }

    /// Both sgemm libraries against a plain loop, in both weight layouts, on strided
    /// operands (column slices of wider buffers, as in_proj's x and z are read) and with
    /// accumulation into C; the shapes include the model's per-image and per-tile ones and
    /// row counts the engine's split leaves uneven.
    @Test(arguments: GemmLibrary.allCases, [[197, 768, 192], [197, 192, 384], [33, 17, 5], [1, 3, 8], [130, 40, 12]])
    func gemmMatchesPlainLoops(_ library: GemmLibrary, _ shape: [Int]) {
        let (m, n, k) = (shape[0], shape[1], shape[2])
        var rng = Rand(state: 5)
        let lda = k + 3, ldOut = n + 2
        let a = (0 ..< m * lda).map { _ in rng.next() }, b = (0 ..< n * k).map { _ in rng.next() }
        let bT = (0 ..< k * n).map { b[($0 % n) * k + $0 / n] }            // (k, n) of the (n, k) weight
        let start = (0 ..< m * ldOut).map { _ in rng.next() }
        var nt = start, nn = [Float](repeating: .nan, count: m * ldOut), ntSum = start
        gemmNT(&nt, ldOut: ldOut, a, lda: lda, b, ldb: k, m: m, n: n, k: k, library: library)
        gemmNN(&nn, ldOut: ldOut, a, lda: lda, bT, ldb: n, m: m, n: n, k: k, library: library)
        gemmNT(&ntSum, ldOut: ldOut, a, lda: lda, b, ldb: k, m: m, n: n, k: k, accumulate: true, library: library)
        var worst: Double = 0
        for i in 0 ..< m {
            for j in 0 ..< n {
                var ref: Double = 0
                for c in 0 ..< k { ref += Double(a[i * lda + c]) * Double(b[j * k + c]) }
                let at = i * ldOut + j
                worst = max(worst, abs(Double(nt[at]) - ref), abs(Double(nn[at]) - ref),
                            abs(Double(ntSum[at]) - Double(start[at]) - ref))
            }
            // The padding past n is never written.
            for j in n ..< ldOut { #expect(nt[i * ldOut + j] == start[i * ldOut + j] && nn[i * ldOut + j].isNaN) }
        }
        #expect(worst < 1e-5 * Double(k), "\(library) \(m)x\(n)x\(k): largest error \(worst)")
    }

    /// The reverse conv is the forward conv of the flipped sequence, flipped back; both on a
    /// channel slice of a wider buffer, as the mixer calls them.
    @Test func reverseConvIsFlippedForwardConv() {
        let l = 11, e = 13, k = 4, ld = 20
        var rng = Rand(state: 7)
        let x = (0 ..< l * ld).map { _ in rng.next() }
        let w = (0 ..< k * e).map { _ in rng.next() }
        let bias = (0 ..< e).map { _ in rng.next() }
        var flipped = [Float](repeating: 0, count: l * ld)
        for t in 0 ..< l { for c in 0 ..< ld { flipped[(l - 1 - t) * ld + c] = x[t * ld + c] } }
        var rev = [Float](repeating: 0, count: l * e), fwd = rev
        causalConvSiLU(&rev, ldo: e, x, ldx: ld, weightT: w, ldw: e, bias: bias, length: l, channels: e, width: k, reverse: true)
        causalConvSiLU(&fwd, ldo: e, flipped, ldx: ld, weightT: w, ldw: e, bias: bias, length: l, channels: e, width: k, reverse: false)
        var back = [Float](repeating: 0, count: l * e)
        for t in 0 ..< l { for c in 0 ..< e { back[(l - 1 - t) * e + c] = fwd[t * e + c] } }
        expectClose(rev, back, atol: 1e-6, "reverse conv")

        // The forward conv against the formula, at t = 2: the first tap reaches before the start and reads zero.
        var out = [Float](repeating: 0, count: l * e)
        causalConvSiLU(&out, ldo: e, x, ldx: ld, weightT: w, ldw: e, bias: bias, length: l, channels: e, width: k, reverse: false)
        for c in [0, 5, 12] {
            var pre = bias[c]
            for j in 1 ..< k { pre += w[j * e + c] * x[(j - 1) * ld + c] }
            let expected = pre / (1 + expf(-pre))
            #expect(abs(out[2 * e + c] - expected) < 1e-6)
        }
    }

    /// One pass of both pools and the skip term gives exactly what two `poolGroups` calls and
    /// the skip formula give, for mean (scaled) and max, plain and interleaved runs, channels
    /// past the last whole vector, and with the skip written over x_f itself.
    @Test(arguments: [Collapse.mean, .max], [1, 3])
    func poolWithSkipMatchesSeparatePasses(_ collapse: Collapse, _ interleave: Int) {
        let (width, runs, e, ld) = (5, 2, vectorLanes + 5, vectorLanes + 9)
        let groups = runs * interleave, rows = groups * width
        var rng = Rand(state: 5)
        let xf = (0 ..< rows * ld).map { _ in rng.next() }, xb = (0 ..< rows * ld).map { _ in rng.next() }
        let dF = (0 ..< e).map { _ in rng.next() }, dB = (0 ..< e).map { _ in rng.next() }
        var wantF = [Float](repeating: 0, count: groups * e), wantB = wantF
        poolGroups(&wantF, ldo: e, xf, ldx: ld, groups: groups, width: width, interleave: interleave, channels: e, collapse: collapse, scale: 0.7)
        poolGroups(&wantB, ldo: e, xb, ldx: ld, groups: groups, width: width, interleave: interleave, channels: e, collapse: collapse, scale: 0.7)
        var gotF = [Float](repeating: .nan, count: groups * e), gotB = gotF
        var skip = xf
        xf.withUnsafeBufferPointer { f in
            poolGroupsWithSkip(&gotF, &gotB, ldo: e, f.baseAddress!, xb, ldx: ld, skip: &skip, dF: dF, dB: dB, groups: groups,
                               width: width, interleave: interleave, channels: e, collapse: collapse, scale: 0.7)
        }
        #expect(gotF == wantF && gotB == wantB)
        for t in 0 ..< rows {
            for c in 0 ..< ld {
                let want = c < e ? (dF[c] * xf[t * ld + c] + dB[c] * xb[t * ld + c]) * 0.5 : xf[t * ld + c]
                #expect(skip[t * ld + c] == want, "skip [\(t), \(c)]")
            }
        }
    }

    /// Both directions in one pass against a plain double-precision conv + SiLU of each, on
    /// sequences all edge (length 5), with one block between the edges, and long ones; on
    /// token ranges that start and end anywhere; channels past the last whole vector; x a
    /// slice of a wider buffer. Rows outside `tokens` are never written.
    @Test(arguments: [5, 10, 11, 33])
    func convPairMatchesPlainConvs(_ length: Int) {
        let e = 2 * vectorLanes + 3, ld = e + 9, k = 4
        var rng = Rand(state: UInt64(length))
        let x = (0 ..< length * ld).map { _ in rng.next() }
        let wF = (0 ..< k * e).map { _ in rng.next() }, wB = (0 ..< k * e).map { _ in rng.next() }
        let bF = (0 ..< e).map { _ in rng.next() }, bB = (0 ..< e).map { _ in rng.next() }
        func plain(_ w: [Float], _ bias: [Float], reverse: Bool, t: Int, c: Int) -> Float {
            var acc = Double(bias[c])
            for j in 0 ..< k {
                let s = reverse ? t + (k - 1) - j : t - (k - 1) + j
                if s >= 0, s < length { acc += Double(w[j * e + c]) * Double(x[s * ld + c]) }
            }
            return Float(acc / (1 + exp(-acc)))
        }
        for tokens in [0 ..< length, 1 ..< length - 1, 2 ..< length, 0 ..< length / 2, 4 ..< length] where !tokens.isEmpty {
            var outF = [Float](repeating: .nan, count: length * e), outB = outF
            x.withUnsafeBufferPointer { xp in
                wF.withUnsafeBufferPointer { wf in wB.withUnsafeBufferPointer { wb in
                    bF.withUnsafeBufferPointer { bf in bB.withUnsafeBufferPointer { bb in
                        causalConvSiLUPair(&outF, &outB, ldo: e, xp.baseAddress!, ldx: ld,
                                           forward: ConvTaps(weightT: wf.baseAddress!, bias: bf.baseAddress!),
                                           backward: ConvTaps(weightT: wb.baseAddress!, bias: bb.baseAddress!),
                                           ldw: e, length: length, channels: e, width: k, tokens: tokens)
                    } }
                } }
            }
            for t in 0 ..< length {
                for c in 0 ..< e {
                    let (f, b) = (outF[t * e + c], outB[t * e + c])
                    guard tokens.contains(t) else {
                        #expect(f.isNaN && b.isNaN, "row \(t) outside \(tokens) written")
                        continue
                    }
                    #expect(abs(f - plain(wF, bF, reverse: false, t: t, c: c)) < 2e-6, "forward [\(t), \(c)] of \(length), \(tokens)")
                    #expect(abs(b - plain(wB, bB, reverse: true, t: t, c: c)) < 2e-6, "reverse [\(t), \(c)] of \(length), \(tokens)")
                }
            }
        }
    }

    /// Against `F.interpolate(x, size, mode="bicubic", align_corners=False)` of PyTorch 2.15,
    /// x = sin(0.7 k) on a 4x6 grid, shrinking one axis and growing the other both ways.
    @Test func bicubicMatchesPyTorch() {
        let input: [Float] = (0 ..< 24).map { Float(sin(Double($0) * 0.7)) }
        let expected: [(Int, Int, [Float])] = [
            (7, 5, [0.1431473, 0.9892107, 1.138807, 0.5601009, -0.4234709, -0.3720275, 0.1593733, 0.5703283, 0.6165405,
                    0.231638, -0.908074, -0.8746914, -0.2417636, 0.5457793, 0.9675853, -0.05278453, -0.6502616, -0.7890521,
                    -0.423219, 0.2470141, 0.8519001, 0.1826799, -0.597949, -0.9961706, -0.7047116, 0.4373746, 0.645652,
                    0.4065202, -0.09259392, -0.5374416, 0.01100602, 0.9098216, 1.16555, 0.6758724, -0.2979124]),
            (3, 9, [-0.2022102, 0.08274232, 0.4869327, 0.7057579, 0.8194706, 0.7175168, 0.506559, 0.1068412, -0.1776361,
                    0.03050066, -0.2406989, -0.5999975, -0.7581325, -0.789052, -0.6123105, -0.356616, 0.05815267, 0.3352458,
                    0.1414465, 0.3967754, 0.7083769, 0.8045872, 0.7524722, 0.5023234, 0.203889, -0.2226918, -0.4902372]),
        ]
        for (h, w, values) in expected {
            var out = [Float](repeating: 0, count: h * w)
            bicubicResize(&out, input, channels: 1, inHeight: 4, inWidth: 6, outHeight: h, outWidth: w)
            // float32 rounding: PyTorch's float result itself is 6e-7 from the float64 one here.
            expectClose(out, values, atol: 3e-6, "bicubic 4x6 -> \(h)x\(w)")
        }
        var same = [Float](repeating: 0, count: 24)
        bicubicResize(&same, input, channels: 1, inHeight: 4, inWidth: 6, outHeight: 4, outWidth: 6)
        expectClose(same, input, atol: 1e-6, "identity resize")
    }

    @Test func gridPadsToThePatchAndHonoursStride() {
        #expect(Grid(height: 224, width: 224, patch: 16, stride: 16) == Grid(rows: 14, cols: 14))
        #expect(Grid(height: 64, width: 96, patch: 16, stride: 16) == Grid(rows: 4, cols: 6))
        #expect(Grid(height: 230, width: 100, patch: 16, stride: 16) == Grid(rows: 15, cols: 7))
        #expect(Grid(height: 224, width: 224, patch: 16, stride: 8) == Grid(rows: 27, cols: 27))
    }
}
