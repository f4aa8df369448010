import FastVimCUDA
import Foundation
import Testing
import TestSupport

/// Every kernel of the forward pass, run on the emulated device on small odd shapes and
/// compared with `KernelReference`: the numerics of the GPU code, checked without a GPU.
@Suite struct EmulatedKernelTests {
    /// One test below per kernel: a new kernel needs one too.
    static let tested: Set<String> = [
        "fv_im2col", "fv_embed_assemble", "fv_add_rmsnorm", "fv_grid_transpose", "fv_conv_silu_pool", "fv_softplus_bias",
        "fv_selective_scan", "fv_selective_scan_lanes", "fv_combine_norm_gate", "fv_mean_tokens", "fv_add_row_bias",
        "fv_scan_chunk_states", "fv_scan_chunk_carry", "fv_selective_scan_chunked",
        "fv_gather_kept", "fv_permute_tokens", "fv_masked_pool",
    ]

    @Test func everyKernelIsCovered() {
        #expect(Set(CUDAKernel.all.map(\.name)) == Self.tested)
    }

    @Test(arguments: [(10, 9, 4, 4), (8, 8, 4, 4), (11, 7, 3, 2)])
    func im2col(_ shape: (height: Int, width: Int, patch: Int, stride: Int)) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 1)
        let (batch, channels, p, s) = (2, 3, shape.patch, shape.stride)
        let (rows, columns) = ((shape.height + s - 1) / s, (shape.width + s - 1) / s)
        let image = random.floats(batch * channels * shape.height * shape.width)
        let count = batch * rows * columns * channels * p * p
        let cols = try device.buffer(count: count)
        try device.run("fv_im2col", .elementwise(count), [
            .pointer(cols), .pointer(try device.buffer(image)), .int(batch), .int(channels), .int(shape.height),
            .int(shape.width), .int(p), .int(s), .int(rows), .int(columns),
        ])
        let expected = KernelReference.im2col(image, batch: batch, channels: channels, height: shape.height, width: shape.width,
                                              patch: p, stride: s, rows: rows, columns: columns)
        #expect(try device.read(cols, count) == expected)
    }

    /// (channels, channel-first, class token position, channel embedding).
    @Test(arguments: [(1, false, nil, false), (1, false, 3, false), (3, true, nil, true), (3, false, 5, true), (2, true, 12, false)] as [(Int, Bool, Int?, Bool)])
    func embedAssemble(_ channels: Int, _ channelFirst: Bool, _ middle: Int?, _ withChannelEmbed: Bool) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 2)
        let (batch, positions, d) = (2, 6, 37)
        let sequence = positions * channels + (middle == nil ? 0 : 1)
        let patches = random.floats(batch * channels * positions * d), bias = random.floats(d)
        let pos = random.floats(sequence * d), cls = random.floats(d), channelEmbed = random.floats(channels * d)
        let hidden = try device.buffer(count: batch * sequence * d)
        try device.run("fv_embed_assemble", .elementwise(batch * sequence * d), [
            .pointer(hidden), .pointer(try device.buffer(patches)), .pointer(try device.buffer(bias)), .pointer(try device.buffer(pos)),
            .pointer(middle == nil ? nil : try device.buffer(cls)), .pointer(withChannelEmbed ? try device.buffer(channelEmbed) : nil),
            .int(batch), .int(positions), .int(channels), .flag(channelFirst), .int(sequence), .int(d), .int(middle ?? -1),
        ])
        let expected = KernelReference.embed(patches: patches, bias: bias, pos: pos, cls: cls, channelEmbed: withChannelEmbed ? channelEmbed : nil,
                                             batch: batch, positions: positions, channels: channels, channelFirst: channelFirst, d: d, middle: middle)
        expectClose(try device.read(hidden, batch * sequence * d), expected, tolerance: 1e-6, "embed")
    }

    @Test(arguments: [(100, true), (192, false), (192, true), (300, true), (1000, false)])
    func addRMSNorm(_ d: Int, _ add: Bool) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 3)
        let rows = 5
        var residual = random.floats(rows * d, -2, 2)
        let hidden = random.floats(rows * d), weight = random.floats(d, 0.5, 1.5)
        let (out, r) = (try device.buffer(count: rows * d), try device.buffer(residual))
        try device.run("fv_add_rmsnorm", .perRow(rows), [
            .pointer(out), .pointer(r), .pointer(try device.buffer(hidden)), .pointer(try device.buffer(weight)),
            .int(d), .flag(add), .float(1e-5),
        ])
        let expected = KernelReference.addRMSNorm(residual: &residual, hidden: hidden, weight: weight, rows: rows, d: d, add: add, eps: 1e-5)
        expectClose(try device.read(out, rows * d), expected, "rmsnorm d \(d)")
        expectClose(try device.read(r, rows * d), residual, tolerance: 0, "residual d \(d)")
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
        try device.run("fv_add_rmsnorm", .perRow(1), [
            .pointer(out), .pointer(try device.buffer(residual)), .pointer(nil), .pointer(try device.buffer([Float](repeating: 1, count: d))),
            .int(d), .int(0), .float(0),
        ])
        let scale = 1 / (sumOfSquares / Float(d)).squareRoot()
        expectClose(try device.read(out, d), residual.map { $0 * scale }, tolerance: 1e-6, "rmsnorm over 256 threads")
    }

    @Test(arguments: [(true, 2), (false, 2), (true, 1), (false, 3)])
    func gridTranspose(_ toColumnMajor: Bool, _ inner: Int) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 4)
        let (batch, outer, rows, cols, d) = (2, 2, 3, 5, 7)
        let sequence = outer * rows * cols * inner + 1 // a trailing token the transpose leaves alone
        let x = random.floats(batch * sequence * d), initial = random.floats(batch * sequence * d)
        let out = try device.buffer(initial)
        try device.run("fv_grid_transpose", .elementwise(batch * (sequence - 1) * d), [
            .pointer(out), .pointer(try device.buffer(x)), .int(batch), .int(sequence), .int(outer), .int(rows), .int(cols),
            .int(inner), .int(d), .flag(toColumnMajor),
        ])
        let expected = KernelReference.gridTranspose(x, into: initial, batch: batch, sequence: sequence, outer: outer, rows: rows,
                                                     cols: cols, inner: inner, d: d, toColumnMajor: toColumnMajor)
        #expect(try device.read(out, batch * sequence * d) == expected)
    }

    struct ConvCase: CustomStringConvertible, Sendable {
        var groups, width, interleave: Int
        var collapseMax = false, pooled = true, scale: Float = 1
        var description: String { "\(groups)x\(width)/\(interleave)\(collapseMax ? " max" : "")\(pooled ? "" : " unpooled") scale \(scale)" }
    }

    static let convCases: [ConvCase] = [
        ConvCase(groups: 11, width: 1, interleave: 1, pooled: false), // Vim: every token scanned
        ConvCase(groups: 4, width: 5, interleave: 1),
        ConvCase(groups: 4, width: 5, interleave: 1, scale: 0.5),
        ConvCase(groups: 3, width: 4, interleave: 1, collapseMax: true),
        ConvCase(groups: 6, width: 3, interleave: 3), // Channel-First: 2 rows of 3 channels
        ConvCase(groups: 6, width: 2, interleave: 2, collapseMax: true),
    ]

    @Test(arguments: convCases, [false, true])
    func convSiLUPool(_ shape: ConvCase, _ reverse: Bool) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 5)
        let (batch, e, k) = (2, 37, 4)
        let sequence = shape.groups * shape.width
        let xz = random.floats(batch * sequence * 2 * e), weightT = random.floats(k * e), bias = random.floats(e, -0.5, 0.5)
        let out = try device.buffer(count: batch * sequence * e), pooled = try device.buffer(count: batch * shape.groups * e)
        try device.run("fv_conv_silu_pool", .elementwise(batch * shape.groups * e), [
            .pointer(out), .pointer(shape.pooled ? pooled : nil), .pointer(try device.buffer(xz)), .pointer(try device.buffer(weightT)),
            .pointer(try device.buffer(bias)), .int(batch), .int(sequence), .int(e), .int(k), .flag(reverse), .int(shape.groups),
            .int(shape.width), .int(shape.interleave), .flag(shape.collapseMax), .float(shape.scale),
        ])
        let expected = KernelReference.convSiLUPool(xz: xz, weightT: weightT, bias: bias, batch: batch, sequence: sequence, e: e, k: k,
                                                    reverse: reverse, groups: shape.groups, width: shape.width, interleave: shape.interleave,
                                                    collapseMax: shape.collapseMax, scale: shape.scale)
        expectClose(try device.read(out, batch * sequence * e), expected.out, "conv \(shape)")
        if shape.pooled {
            expectClose(try device.read(pooled, batch * shape.groups * e), expected.pooled, "pooled \(shape)")
        } else {
            #expect(try device.read(pooled, batch * shape.groups * e).allSatisfy(\.isNaN), "pooled = null must not be written")
        }
    }

    @Test func softplusBias() throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 6)
        let (rows, e) = (13, 37)
        let delta = random.floats(rows * e, -30, 30), bias = random.floats(e)
        let p = try device.buffer(delta)
        try device.run("fv_softplus_bias", .elementwise(rows * e), [.pointer(p), .pointer(try device.buffer(bias)), .long(rows), .int(e)])
        expectClose(try device.read(p, rows * e), KernelReference.softplusBias(delta, bias: bias, e: e), "softplus")
    }

    /// Both scans against the plain-loop reference and each other, with an x_proj output
    /// wider than dt | B | C (ld_bc > r + 2n) as the engine's padded layouts may have.
    @Test(arguments: [(16, false), (16, true), (4, true), (32, false)])
    func selectiveScans(_ n: Int, _ reverse: Bool) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 7)
        let (batch, steps, e, r) = (2, 7, 37, 3)
        let ldBC = r + 2 * n + 1
        let u = random.floats(batch * steps * e), delta = random.floats(batch * steps * e, 0.01, 1)
        let a = random.floats(e * n, 0, 2).map { -expf($0) }, dbc = random.floats(batch * steps * ldBC)
        let inputs: [KernelArgument] = [
            .pointer(try device.buffer(u)), .pointer(try device.buffer(delta)), .pointer(try device.buffer(a)), .pointer(try device.buffer(dbc)),
            .int(batch), .int(steps), .int(e), .int(n), .int(ldBC), .int(r), .flag(reverse),
        ]
        let perChannel = try device.buffer(count: batch * steps * e), lanes = try device.buffer(count: batch * steps * e)
        try device.run("fv_selective_scan", .elementwise(batch * e), [.pointer(perChannel)] + inputs)
        try device.run("fv_selective_scan_lanes", .elementwise(batch * e * n), [.pointer(lanes)] + inputs)
        let expected = KernelReference.selectiveScan(u: u, delta: delta, a: a, dbc: dbc, batch: batch, steps: steps, e: e, n: n,
                                                     ldBC: ldBC, r: r, reverse: reverse)
        let (y1, y2) = (try device.read(perChannel, batch * steps * e), try device.read(lanes, batch * steps * e))
        expectClose(y1, expected, "thread per channel, n \(n)")
        expectClose(y2, expected, "lane per state, n \(n)")
        expectClose(y2, y1, "the two scans, n \(n)")
    }

    /// The chunked scan (chunk states, carry, rescan) against the plain loop: chunks that
    /// divide the sequence, a ragged last chunk, one step per chunk, one chunk for all.
    @Test(arguments: [(5, 16, false), (5, 16, true), (1, 16, true), (23, 4, false), (40, 16, true), (6, 32, false)])
    func chunkedScan(_ chunk: Int, _ n: Int, _ reverse: Bool) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 11)
        let (batch, steps, e, r) = (2, 23, 19, 3)
        let ldBC = r + 2 * n
        let chunks = (steps + chunk - 1) / chunk
        let u = random.floats(batch * steps * e), delta = random.floats(batch * steps * e, 0.01, 1)
        let a = random.floats(e * n, 0, 2).map { -expf($0) }, dbc = random.floats(batch * steps * ldBC)
        let (pu, pd, pa, pdbc) = (try device.buffer(u), try device.buffer(delta), try device.buffer(a), try device.buffer(dbc))
        let states = try device.buffer(count: batch * chunks * e * n), decays = try device.buffer(count: batch * chunks * e * n)
        let y = try device.buffer(count: batch * steps * e)
        let shape: [KernelArgument] = [.int(batch), .int(steps), .int(e), .int(n), .int(ldBC), .int(r), .flag(reverse), .int(chunk), .int(chunks)]
        try device.run("fv_scan_chunk_states", .elementwise(batch * chunks * e * n),
                       [.pointer(states), .pointer(decays), .pointer(pu), .pointer(pd), .pointer(pa), .pointer(pdbc)] + shape)
        try device.run("fv_scan_chunk_carry", .elementwise(batch * e * n),
                       [.pointer(states), .pointer(decays), .int(batch), .int(e), .int(n), .int(chunks)])
        try device.run("fv_selective_scan_chunked", .elementwise(batch * chunks * e * n),
                       [.pointer(y), .pointer(pu), .pointer(pd), .pointer(pa), .pointer(pdbc), .pointer(states)] + shape)
        let expected = KernelReference.selectiveScan(u: u, delta: delta, a: a, dbc: dbc, batch: batch, steps: steps, e: e, n: n,
                                                     ldBC: ldBC, r: r, reverse: reverse)
        expectClose(try device.read(y, batch * steps * e), expected, "chunk \(chunk), n \(n)\(reverse ? ", reverse" : "")")
    }

    struct CombineCase: CustomStringConvertible, Sendable {
        var e, groups, width, interleave: Int
        var layerNorm: Bool
        var description: String { "e \(e) \(groups)x\(width)/\(interleave)\(layerNorm ? " LN" : "")" }
    }

    @Test(arguments: [
        CombineCase(e: 100, groups: 4, width: 3, interleave: 1, layerNorm: true),
        CombineCase(e: 300, groups: 4, width: 3, interleave: 1, layerNorm: true),
        CombineCase(e: 300, groups: 6, width: 2, interleave: 3, layerNorm: true),
        CombineCase(e: 100, groups: 9, width: 1, interleave: 1, layerNorm: false), // Vim
        CombineCase(e: 384, groups: 9, width: 1, interleave: 1, layerNorm: true), // Vim with LayerNorm
    ])
    func combineNormGate(_ shape: CombineCase) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 8)
        let (batch, e) = (2, shape.e)
        let sequence = shape.groups * shape.width
        let values = KernelReference.Combine(
            yF: random.floats(batch * shape.groups * e), yB: random.floats(batch * shape.groups * e),
            xF: random.floats(batch * sequence * e), xB: random.floats(batch * sequence * e), xz: random.floats(batch * sequence * 2 * e, -3, 3),
            dF: random.floats(e), dB: random.floats(e),
            lnW: shape.layerNorm ? random.floats(e, 0.5, 1.5) : nil, lnB: shape.layerNorm ? random.floats(e) : nil)
        let gated = try device.buffer(count: batch * sequence * e)
        func buffer(_ v: [Float]?) throws -> KernelArgument { .pointer(try v.map { try device.buffer($0) }) }
        try device.run("fv_combine_norm_gate", .perRow(batch * sequence), [
            .pointer(gated), try buffer(values.yF), try buffer(values.yB), try buffer(values.xF), try buffer(values.xB), try buffer(values.xz),
            try buffer(values.dF), try buffer(values.dB), try buffer(values.lnW), try buffer(values.lnB),
            .pointer(nil), .int(sequence), .int(e), .int(shape.groups), .int(shape.width), .int(shape.interleave), .float(1e-5),
        ])
        let expected = KernelReference.combine(values, batch: batch, sequence: sequence, e: e, groups: shape.groups, width: shape.width,
                                               interleave: shape.interleave, eps: 1e-5)
        expectClose(try device.read(gated, batch * sequence * e), expected, "combine \(shape)")
    }

    /// FastVim averages every token; Vim takes its class token alone.
    @Test(arguments: [(0, 9), (4, 1), (2, 5)])
    func meanTokens(_ first: Int, _ count: Int) throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 9)
        let (batch, sequence, d) = (2, 9, 300)
        let normed = random.floats(batch * sequence * d)
        let features = try device.buffer(count: batch * d)
        try device.run("fv_mean_tokens", .elementwise(batch * d), [
            .pointer(features), .pointer(try device.buffer(normed)), .int(batch), .int(sequence), .int(d), .int(first), .int(count),
        ])
        expectClose(try device.read(features, batch * d),
                    KernelReference.meanTokens(normed, batch: batch, sequence: sequence, d: d, first: first, count: count), "mean")
    }

    @Test func addRowBias() throws {
        let device = try EmulatedDevice()
        var random = SplitMix64(seed: 10)
        let (rows, cols) = (7, 37)
        let x = random.floats(rows * cols), bias = random.floats(cols)
        let p = try device.buffer(x)
        try device.run("fv_add_row_bias", .elementwise(rows * cols), [.pointer(p), .pointer(try device.buffer(bias)), .long(rows), .int(cols)])
        #expect(try device.read(p, rows * cols) == KernelReference.addRowBias(x, bias: bias, cols: cols))
    }

    /// The CUDA device's bf16 conversion (not a forward-pass kernel): round to nearest even
    /// as `roundToBFloat16`, through a leading dimension; NaNs stay quiet NaNs.
    @Test func toBF16() throws {
        let kernel = try #require(CUDAKernel.deviceInternal.first { $0.name == "fv_to_bf16" })
        let device = try EmulatedDevice(kernels: [kernel])
        let bits: [UInt32] = [0x3f80_0000, 0x3f80_8000, 0x3f81_8000, 0x3f80_8001, 0xbf80_7fff, 0x7f7f_ffff, 0x7f80_0000, 0xff80_0000,
                              0x0000_0001, 0x8000_0000, 0x7f80_0001, 0xffc0_1234]
        let (rows, cols, ld) = (3, 4, 5)
        var x = [Float](repeating: -7, count: rows * ld)
        for (i, b) in bits.enumerated() { x[i / cols * ld + i % cols] = Float(bitPattern: b) }
        let out = try device.allocate(bytes: rows * cols * 2)
        try device.launch(kernel, .elementwise(rows * cols), [.pointer(out), .pointer(try device.buffer(x)), .long(rows), .int(cols), .int(ld)])
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
        try device.run("fv_gather_kept", .elementwise(batch * k * d), [
            .pointer(out), .pointer(try device.buffer(patches)), .pointer(try device.buffer(bias)), .pointer(try device.buffer(pos)),
            .pointer(try device.indices(ids)), .int(batch), .int(positions), .int(k), .int(d),
        ])
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
        try device.run("fv_permute_tokens", .elementwise(batch * k * d), [.pointer(gathered), .pointer(px), .pointer(pOrder), .int(batch), .int(k), .int(d), .flag(false)])
        try device.run("fv_permute_tokens", .elementwise(batch * k * d), [.pointer(back), .pointer(gathered), .pointer(pOrder), .int(batch), .int(k), .int(d), .flag(true)])
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
        try device.run("fv_masked_pool", .elementwise(batch * groups * e), [
            .pointer(pf), .pointer(pb), .pointer(try device.buffer(xf)), .pointer(try device.buffer(xb)), .pointer(try device.indices(rows)),
            .int(batch), .int(k), .int(groups), .int(e), .float(scale),
        ])
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
