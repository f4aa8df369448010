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
