/// Gathers each patch of a (C, H, W) image into one row of `cols` (L, C·p·p), the layout of
/// the Conv2d weight (D, C, p, p), so the convolution becomes one GEMM. Pixels beyond the
/// image read as zero: FastVim pads right and bottom to a multiple of the patch.
func im2col(_ cols: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>,
            channels: Int, height: Int, width: Int, patch p: Int, stride: Int, rows: Int, columns: Int) {
    let rowLength = channels * p * p
    for r in 0 ..< rows {
        for c in 0 ..< columns {
            let dst = cols + (r * columns + c) * rowLength
            for ch in 0 ..< channels {
                for ky in 0 ..< p {
                    let y = r * stride + ky
                    let out = dst + (ch * p + ky) * p
                    let x0 = c * stride
                    if y >= height {
                        out.update(repeating: 0, count: p)
                        continue
                    }
                    let src = image + (ch * height + y) * width
                    let inside = max(0, min(p, width - x0))
                    if inside > 0 { out.update(from: src + x0, count: inside) }
                    if inside < p { (out + inside).update(repeating: 0, count: p - inside) }
                }
            }
        }
    }
}
