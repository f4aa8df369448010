/// Fixed-point weights of one resampling pass (one axis), computed exactly like Pillow's
/// `precompute_coeffs` + `normalize_coeffs_8bpc`: the kernel is widened by the downscale
/// factor (antialiasing), each output's taps are normalised to sum to 1 in Double, then
/// rounded half away from zero to PRECISION_BITS fractional bits.
///
/// Only the outputs in `outputs` are computed (each output's taps depend on nothing
/// else), so memory follows the crop, not the resized size: a 16384 x 1 strip resized to
/// 256 high would otherwise need coefficients for four million columns.
struct ResampleCoefficients {
    /// Fractional bits: 32 - 8 (sample) - 2 (headroom for negative lobes / overshoot).
    static let precisionBits: Int32 = 22

    /// Taps per output (the stride of `weights`).
    let taps: Int
    /// The outputs these coefficients cover; arrays are indexed from its lower bound.
    let outputs: Range<Int>
    /// First input index of each output.
    let first: [Int32]
    /// Number of used taps of each output (the rest are zero).
    let count: [Int32]
    /// `taps` weights per output.
    let weights: [Int32]

    init(inSize: Int, outSize: Int, filter: ResampleFilter, outputs: Range<Int>) {
        // Pillow takes the box edges as Float; whole-image boxes are exact in Float.
        let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
        let filterScale = max(scale, 1.0)
        let support = filter.support * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        let invFilterScale = 1.0 / filterScale
        var first = [Int32](repeating: 0, count: outputs.count)
        var count = [Int32](repeating: 0, count: outputs.count)
        var weights = [Int32](repeating: 0, count: outputs.count * taps)
        var k = [Double](repeating: 0, count: taps)
        let one = Double(1 << ResampleCoefficients.precisionBits)
        for xx in outputs {
            let o = xx - outputs.lowerBound
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero, as Int(_: Double) does.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var sum = 0.0
            for x in 0..<max(xmax, 0) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * invFilterScale)
                k[x] = w
                sum += w
            }
            for x in 0..<max(xmax, 0) {
                let w = sum != 0.0 ? k[x] / sum : k[x]
                weights[o * taps + x] = w < 0 ? Int32(-0.5 + w * one) : Int32(0.5 + w * one)
            }
            first[o] = Int32(xmin)
            count[o] = Int32(max(xmax, 0))
        }
        self.taps = taps
        self.outputs = outputs
        self.first = first
        self.count = count
        self.weights = weights
    }

    /// The input indices the covered outputs read.
    var inputSpan: Range<Int> {
        var lo = Int.max, hi = Int.min
        for o in 0..<outputs.count {
            lo = min(lo, Int(first[o]))
            hi = max(hi, Int(first[o] + count[o]))
        }
        return lo < hi ? lo..<hi : 0..<0
    }
}
