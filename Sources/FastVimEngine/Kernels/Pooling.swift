/// FastVim's pooling of one sequence: tokens come in `groups` runs of `width` consecutive
/// tokens (a row of the grid the mixer sees); each run collapses to one token.
/// The reference scales only the mean (scaling_factor, for MAE-transferred weights).
public enum Collapse: String, Sendable, Codable {
    case mean, max
}

/// x is (groups·width, ·) with row stride `ldx`, out (groups, ·) with row stride `ldo`;
/// `channels` columns of each are used. With `interleave` k > 1 (Channel-First channel
/// models), group g's members are tokens ((g / k)·width + w)·k + g % k.
func poolGroups(_ out: UnsafeMutablePointer<Float>, ldo: Int, _ x: UnsafePointer<Float>, ldx: Int,
                groups: Int, width: Int, interleave k: Int = 1, channels e: Int, collapse: Collapse, scale: Float) {
    for g in 0 ..< groups {
        let o = out + g * ldo
        let first = x + ((g / k) * width * k + g % k) * ldx
        o.update(from: first, count: e)
        for w in 1 ..< max(width, 1) {
            let row = first + w * k * ldx
            switch collapse {
            case .mean: for c in 0 ..< e { o[c] += row[c] }
            case .max: for c in 0 ..< e { o[c] = Swift.max(o[c], row[c]) }
            }
        }
        if collapse == .mean {
            let s = scale / Float(width)
            for c in 0 ..< e { o[c] *= s }
        }
    }
}

/// Both directions' `poolGroups` in one pass over their rows, writing the mixer's skip term
/// ½(D_f·x_f + D_b·x_b) of each row as it goes (the pooled models' conv pass): a vector of
/// channels of a whole run at a time, in registers, where the two pools and the skip pass
/// each read the rows again. The same values as those three (the same operations in the
/// same order). `skip` has x's row layout and may be `xf` itself.
func poolGroupsWithSkip(_ outF: UnsafeMutablePointer<Float>, _ outB: UnsafeMutablePointer<Float>, ldo: Int,
                        _ xf: UnsafePointer<Float>, _ xb: UnsafePointer<Float>, ldx: Int,
                        skip: UnsafeMutablePointer<Float>, dF: UnsafePointer<Float>, dB: UnsafePointer<Float>,
                        groups: Int, width: Int, interleave k: Int = 1, channels e: Int, collapse: Collapse, scale: Float) {
    let vectorEnd = e - e % vectorLanes, runs = max(width, 1)
    let s = scale / Float(width)
    // The offset of member w of group g, as `poolGroups` finds it.
    @inline(__always) func row(_ g: Int, _ w: Int) -> Int { ((g / k) * width * k + g % k + w * k) * ldx }
    for g in 0 ..< groups {
        let (of, ob) = (outF + g * ldo, outB + g * ldo)
        var c = 0
        while c < vectorEnd {
            let (wf, wb) = (loadV(dF + c), loadV(dB + c))
            var (pf, pb) = (FloatVector(), FloatVector())
            for w in 0 ..< runs {
                let at = row(g, w) + c
                let (f, b) = (loadV(xf + at), loadV(xb + at))
                if w == 0 {
                    (pf, pb) = (f, b)
                } else if collapse == .mean {
                    pf += f
                    pb += b
                } else {
                    // Swift.max(x, y) is y >= x ? y : x, NaN and signed zeros included.
                    pf = pf.replacing(with: f, where: f .>= pf)
                    pb = pb.replacing(with: b, where: b .>= pb)
                }
                storeV((wf * f + wb * b) * 0.5, skip + at)
            }
            if collapse == .mean {
                pf *= s
                pb *= s
            }
            storeV(pf, of + c)
            storeV(pb, ob + c)
            c += vectorLanes
        }
    }
    guard vectorEnd < e else { return }
    // Channels past the last whole vector: pooled by `poolGroups` itself (before their skip
    // term may overwrite x_f), then the skip term.
    for (out, x) in [(outF, xf), (outB, xb)] {
        poolGroups(out + vectorEnd, ldo: ldo, x + vectorEnd, ldx: ldx, groups: groups, width: width, interleave: k,
                   channels: e - vectorEnd, collapse: collapse, scale: scale)
    }
    for g in 0 ..< groups {
        for w in 0 ..< runs {
            let at = row(g, w)
            for c in vectorEnd ..< e { skip[at + c] = (dF[c] * xf[at + c] + dB[c] * xb[at + c]) * 0.5 }
        }
    }
}
