/// Pillow's two-pass 8-bit resize (`ImagingResampleInner`): horizontal pass first into an
/// 8-bit intermediate, then vertical, each output rounded (+half, >> 22) and clipped to
/// 0...255. A pass whose axis keeps its size is skipped, as in Pillow.
///
/// Every output pixel depends only on the coefficients, so only the window the center crop
/// keeps is computed (rows `rows`, columns `cols` of the resized image); the values are the
/// same as a full resize followed by a crop.
enum PillowResize {
    /// `dst` receives rows.count x cols.count RGB8 pixels, packed.
    static func resize(
        _ src: UnsafePointer<UInt8>, width: Int, height: Int,
        outWidth: Int, outHeight: Int, filter: ResampleFilter,
        rows: Range<Int>, cols: Range<Int>, into dst: UnsafeMutablePointer<UInt8>
    ) {
        guard !rows.isEmpty, !cols.isEmpty else { return }
        let needH = outWidth != width
        let needV = outHeight != height
        let vert = needV ? ResampleCoefficients(inSize: height, outSize: outHeight, filter: filter, outputs: rows) : nil
        // Input rows the vertical pass reads (or the kept rows themselves).
        let srcRows = vert?.inputSpan ?? rows
        let outCols = cols.count

        if !needH {
            // Vertical pass straight from the source columns `cols`.
            if let vert {
                verticalPass(src + cols.lowerBound * 3, rowStride: width * 3, rowOffset: 0,
                             coefficients: vert, rows: rows, columns: outCols, into: dst)
            } else {
                for (i, y) in rows.enumerated() {
                    (dst + i * outCols * 3).update(from: src + (y * width + cols.lowerBound) * 3, count: outCols * 3)
                }
            }
            return
        }

        let horiz = ResampleCoefficients(inSize: width, outSize: outWidth, filter: filter, outputs: cols)
        if !needV {
            for (i, y) in rows.enumerated() {
                horizontalRow(src + y * width * 3, horiz, cols: cols, into: dst + i * outCols * 3)
            }
            return
        }
        let temp = UnsafeMutablePointer<UInt8>.allocate(capacity: srcRows.count * outCols * 3)
        defer { temp.deallocate() }
        for (i, y) in srcRows.enumerated() {
            horizontalRow(src + y * width * 3, horiz, cols: cols, into: temp + i * outCols * 3)
        }
        verticalPass(temp, rowStride: outCols * 3, rowOffset: srcRows.lowerBound,
                     coefficients: vert!, rows: rows, columns: outCols, into: dst)
    }

    @inline(__always)
    private static func clip8(_ ss: Int32) -> UInt8 {
        let v = ss >> ResampleCoefficients.precisionBits
        return v < 0 ? 0 : v > 255 ? 255 : UInt8(truncatingIfNeeded: v)
    }

    private static func horizontalRow(
        _ line: UnsafePointer<UInt8>, _ c: ResampleCoefficients, cols: Range<Int>,
        into out: UnsafeMutablePointer<UInt8>
    ) {
        let half: Int32 = 1 << (ResampleCoefficients.precisionBits - 1)
        c.weights.withUnsafeBufferPointer { weights in
            c.first.withUnsafeBufferPointer { first in
                c.count.withUnsafeBufferPointer { count in
                    var o = out
                    for xx in 0..<cols.count {  // indices relative to c.outputs == cols
                        let k = weights.baseAddress! + xx * c.taps
                        var p = line + Int(first[xx]) * 3
                        var s0 = half, s1 = half, s2 = half
                        for x in 0..<Int(count[xx]) {
                            let w = k[x]
                            s0 &+= Int32(p[0]) &* w
                            s1 &+= Int32(p[1]) &* w
                            s2 &+= Int32(p[2]) &* w
                            p += 3
                        }
                        o[0] = clip8(s0)
                        o[1] = clip8(s1)
                        o[2] = clip8(s2)
                        o += 3
                    }
                }
            }
        }
    }

    /// `src` row r (absolute index) is at src + (r - rowOffset) * rowStride; `columns`
    /// RGB pixels per row are read from the start of each row.
    private static func verticalPass(
        _ src: UnsafePointer<UInt8>, rowStride: Int, rowOffset: Int,
        coefficients c: ResampleCoefficients, rows: Range<Int>, columns: Int,
        into dst: UnsafeMutablePointer<UInt8>
    ) {
        let half: Int32 = 1 << (ResampleCoefficients.precisionBits - 1)
        let samples = columns * 3
        // Accumulating whole rows keeps the inner loop contiguous (and vectorisable);
        // integer sums are exact, so the order of the taps does not change the result.
        let acc = UnsafeMutablePointer<Int32>.allocate(capacity: samples)
        defer { acc.deallocate() }
        c.weights.withUnsafeBufferPointer { weights in
            for i in 0..<rows.count {  // indices relative to c.outputs == rows
                let k = weights.baseAddress! + i * c.taps
                let ymin = Int(c.first[i]) - rowOffset
                acc.update(repeating: half, count: samples)
                for y in 0..<Int(c.count[i]) {
                    let w = k[y]
                    let line = src + (ymin + y) * rowStride
                    for s in 0..<samples { acc[s] &+= Int32(line[s]) &* w }
                }
                let out = dst + i * samples
                for s in 0..<samples { out[s] = clip8(acc[s]) }
            }
        }
    }
}
