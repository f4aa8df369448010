import Foundation

/// Straightforward host versions of what each kernel's doc comment (and the CPU engine's
/// matching stage) says it computes, written from the semantics rather than the CUDA code.
/// Reductions accumulate in Double so they are the more exact side of a comparison.
enum KernelReference {
    static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// (B·rows·columns, C·p·p) patch rows; pixels past the image read zero.
    static func im2col(_ image: [Float], batch: Int, channels: Int, height: Int, width: Int, patch: Int, stride: Int,
                       rows: Int, columns: Int) -> [Float] {
        let kp = channels * patch * patch
        var out = [Float](repeating: 0, count: batch * rows * columns * kp)
        for b in 0 ..< batch { for r in 0 ..< rows { for c in 0 ..< columns {
            let token = (b * rows + r) * columns + c
            for ch in 0 ..< channels { for ky in 0 ..< patch { for kx in 0 ..< patch {
                let (y, x) = (r * stride + ky, c * stride + kx)
                guard y < height, x < width else { continue }
                out[token * kp + (ch * patch + ky) * patch + kx] = image[((b * channels + ch) * height + y) * width + x]
            } } }
        } } }
        return out
    }

    /// Tokens of the sequence: the class token at `middle` (if any), then the patches in
    /// channel-fastest (Channel-First) or position-fastest order.
    static func embed(patches: [Float], bias: [Float], pos: [Float], cls: [Float]?, channelEmbed: [Float]?, batch: Int,
                      positions: Int, channels: Int, channelFirst: Bool, d: Int, middle: Int?) -> [Float] {
        let sequence = positions * channels + (middle == nil ? 0 : 1)
        var out = [Float](repeating: 0, count: batch * sequence * d)
        for b in 0 ..< batch {
            var t = 0
            func emit(_ values: (Int) -> Float) {
                for c in 0 ..< d { out[(b * sequence + t) * d + c] = values(c) + pos[t * d + c] }
                t += 1
            }
            var order: [(channel: Int, position: Int)] = []
            if channelFirst {
                for p in 0 ..< positions { for ch in 0 ..< channels { order.append((ch, p)) } }
            } else {
                for ch in 0 ..< channels { for p in 0 ..< positions { order.append((ch, p)) } }
            }
            for (i, (channel, position)) in order.enumerated() {
                if i == middle, let cls { emit { cls[$0] } }
                emit { c in
                    let v = patches[((b * channels + channel) * positions + position) * d + c] + bias[c]
                    return channelEmbed.map { v + $0[channel * d + c] } ?? v
                }
            }
            if middle == order.count, let cls { emit { cls[$0] } }
        }
        return out
    }

    /// residual += hidden (when `add`); out = residual / rms(residual) · weight, per row.
    static func addRMSNorm(residual: inout [Float], hidden: [Float], weight: [Float], rows: Int, d: Int, add: Bool,
                           eps: Float) -> [Float] {
        var out = [Float](repeating: 0, count: rows * d)
        for r in 0 ..< rows {
            if add { for i in 0 ..< d { residual[r * d + i] += hidden[r * d + i] } }
            let ss = (0 ..< d).reduce(0.0) { $0 + Double(residual[r * d + $1]) * Double(residual[r * d + $1]) }
            let scale = Float(1 / (ss / Double(d) + Double(eps)).squareRoot())
            for i in 0 ..< d { out[r * d + i] = residual[r * d + i] * scale * weight[i] }
        }
        return out
    }

    /// Within each image, token (o, row, col, in) of the row-major grid moves to (o, col, row, in)
    /// of the column-major one (or back); tokens past the grid are not touched.
    static func gridTranspose(_ x: [Float], into out: [Float], batch: Int, sequence: Int, outer: Int, rows: Int, cols: Int,
                              inner: Int, d: Int, toColumnMajor: Bool) -> [Float] {
        var out = out
        for b in 0 ..< batch { for o in 0 ..< outer { for row in 0 ..< rows { for col in 0 ..< cols { for i in 0 ..< inner {
            let base = b * sequence + o * rows * cols * inner
            let rowMajor = base + (row * cols + col) * inner + i, colMajor = base + (col * rows + row) * inner + i
            let (to, from) = toColumnMajor ? (colMajor, rowMajor) : (rowMajor, colMajor)
            for c in 0 ..< d { out[to * d + c] = x[from * d + c] }
        } } } } }
        return out
    }

    struct ConvPool {
        var out: [Float]
        var pooled: [Float]
    }

    /// causalConvSiLU over the x half of xz, then poolGroups over each image's `groups` runs.
    static func convSiLUPool(xz: [Float], weightT: [Float], bias: [Float], batch: Int, sequence: Int, e: Int, k: Int,
                             reverse: Bool, groups: Int, width: Int, interleave: Int, collapseMax: Bool, scale: Float) -> ConvPool {
        var out = [Float](repeating: 0, count: batch * sequence * e)
        for b in 0 ..< batch { for t in 0 ..< sequence { for c in 0 ..< e {
            var acc = bias[c]
            for j in 0 ..< k {
                let s = reverse ? t + (k - 1) - j : t - (k - 1) + j
                if s >= 0, s < sequence { acc += weightT[j * e + c] * xz[(b * sequence + s) * 2 * e + c] }
            }
            out[(b * sequence + t) * e + c] = silu(acc)
        } } }
        var pooled = [Float](repeating: 0, count: batch * groups * e)
        for b in 0 ..< batch { for g in 0 ..< groups {
            let members = (0 ..< width).map { w in ((g / interleave) * width + w) * interleave + g % interleave }
            for c in 0 ..< e {
                let values = members.map { out[(b * sequence + $0) * e + c] }
                pooled[(b * groups + g) * e + c] = collapseMax ? values.max()! : values.reduce(0, +) * (scale / Float(width))
            }
        } }
        return ConvPool(out: out, pooled: pooled)
    }

    static func softplusBias(_ delta: [Float], bias: [Float], e: Int) -> [Float] {
        delta.enumerated().map { i, v in
            let x = v + bias[i % e]
            return x > 20 ? x : Float(log1p(exp(Double(x))))
        }
    }

    /// h ← exp(δ·A)·h + δ·B·u, y = C·h, per (image, channel) over `steps` rows (backwards when `reverse`).
    static func selectiveScan(u: [Float], delta: [Float], a: [Float], dbc: [Float], batch: Int, steps: Int, e: Int, n: Int,
                              ldBC: Int, r: Int, reverse: Bool) -> [Float] {
        var y = [Float](repeating: 0, count: batch * steps * e)
        for b in 0 ..< batch { for c in 0 ..< e {
            var h = [Double](repeating: 0, count: n)
            for step in 0 ..< steps {
                let row = b * steps + (reverse ? steps - 1 - step : step)
                let (d, x) = (Double(delta[row * e + c]), Double(u[row * e + c]))
                var acc = 0.0
                for i in 0 ..< n {
                    h[i] = exp(d * Double(a[c * n + i])) * h[i] + d * Double(dbc[row * ldBC + r + i]) * x
                    acc += h[i] * Double(dbc[row * ldBC + r + n + i])
                }
                y[row * e + c] = Float(acc)
            }
        } }
        return y
    }

    struct Combine {
        var yF, yB, xF, xB, xz, dF, dB: [Float]
        var lnW, lnB: [Float]?
    }

    /// Both directions' pooled outputs repeated over their runs plus their D skips, averaged,
    /// LayerNorm'd when there are weights, gated by SiLU(z).
    static func combine(_ v: Combine, batch: Int, sequence: Int, e: Int, groups: Int, width: Int, interleave: Int,
                        eps: Float) -> [Float] {
        var out = [Float](repeating: 0, count: batch * sequence * e)
        for b in 0 ..< batch { for t in 0 ..< sequence {
            let token = b * sequence + t
            let group = b * groups + (t / (width * interleave)) * interleave + t % interleave
            var row = (0 ..< e).map { c in
                0.5 * (v.yF[group * e + c] + v.dF[c] * v.xF[token * e + c] + v.yB[group * e + c] + v.dB[c] * v.xB[token * e + c])
            }
            if let w = v.lnW, let bias = v.lnB {
                let mean = row.reduce(0.0) { $0 + Double($1) } / Double(e)
                let variance = row.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(e)
                let inv = 1 / (variance + Double(eps)).squareRoot()
                row = (0 ..< e).map { Float((Double(row[$0]) - mean) * inv) * w[$0] + bias[$0] }
            }
            for c in 0 ..< e { out[token * e + c] = row[c] * silu(v.xz[token * 2 * e + e + c]) }
        } }
        return out
    }

    static func meanTokens(_ normed: [Float], batch: Int, sequence: Int, d: Int, first: Int, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: batch * d)
        for b in 0 ..< batch { for c in 0 ..< d {
            let sum = (first ..< first + count).reduce(0.0) { $0 + Double(normed[(b * sequence + $1) * d + c]) }
            out[b * d + c] = Float(sum / Double(count))
        } }
        return out
    }

    static func addRowBias(_ x: [Float], bias: [Float], cols: Int) -> [Float] {
        x.enumerated().map { $1 + bias[$0 % cols] }
    }

    /// out (m, n) = a (m, k) · b (n, k)ᵀ (+ out), in Double.
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
