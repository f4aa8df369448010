/// PyTorch's `F.interpolate(mode="bicubic", align_corners=False)` on a (C, H, W) map,
/// used to fit position embeddings to an input grid other than the trained one.
/// Cubic convolution with A = -0.75, source index (dst + 0.5) · in/out - 0.5 left
/// unclamped, taps clamped to the border, as in ATen's upsample_bicubic2d.
func bicubicResize(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>,
                   channels: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int) {
    func taps(_ dst: Int, inSize: Int, outSize: Int) -> ([Int], [Float]) {
        let scale = Float(inSize) / Float(outSize)
        let real = scale * (Float(dst) + 0.5) - 0.5
        let index = Int(real.rounded(.down))
        let t = real - Float(index)
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        let w = [far(t + 1), near(t), near(1 - t), far((1 - t) + 1)]
        let idx = (-1 ... 2).map { min(max(index + $0, 0), inSize - 1) }
        return (idx, w)
    }
    let ys = (0 ..< outHeight).map { taps($0, inSize: inHeight, outSize: outHeight) }
    let xs = (0 ..< outWidth).map { taps($0, inSize: inWidth, outSize: outWidth) }
    for ch in 0 ..< channels {
        let src = input + ch * inHeight * inWidth
        for oy in 0 ..< outHeight {
            let (yi, yw) = ys[oy]
            for ox in 0 ..< outWidth {
                let (xi, xw) = xs[ox]
                var acc: Float = 0
                for j in 0 ..< 4 {
                    let row = src + yi[j] * inWidth
                    let v = row[xi[0]] * xw[0] + row[xi[1]] * xw[1] + row[xi[2]] * xw[2] + row[xi[3]] * xw[3]
                    acc += v * yw[j]
                }
                out[(ch * outHeight + oy) * outWidth + ox] = acc
            }
        }
    }
}
