/// A patch row is p floats (16 for every model here): as a call to memmove each, they made
/// im2col a quarter of the patch embedding's time at 224 px (perf, FastVim-T, batch 8).
@inline(__always)
private func copyRow(_ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + vectorLanes <= count {
        storeV(loadV(src + i), out + i)
        i += vectorLanes
    }
    while i < count {
        out[i] = src[i]
        i += 1
    }
}

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
                    copyRow(out, src + x0, count: inside)
                    if inside < p { (out + inside).update(repeating: 0, count: p - inside) }
                }
            }
        }
    }
}

/// dst = a + b (+ c (+ d)), summed left to right, a vector at a time: the patch embedding's
/// bias, channel and position terms.
@inline(__always)
func addRows(_ dst: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
             _ c: UnsafePointer<Float>? = nil, _ d: UnsafePointer<Float>? = nil, count: Int) {
    var i = 0
    while i + vectorLanes <= count {
        var v = loadV(a + i) + loadV(b + i)
        if let c { v += loadV(c + i) }
        if let d { v += loadV(d + i) }
        storeV(v, dst + i)
        i += vectorLanes
    }
    while i < count {
        var v = a[i] + b[i]
        if let c { v += c[i] }
        if let d { v += d[i] }
        dst[i] = v
        i += 1
    }
}
