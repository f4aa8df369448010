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
            horizontalPass(src + rows.lowerBound * width * 3, rowStride: width * 3, rows: rows.count, horiz,
                           into: dst, outStride: outCols * 3)
            return
        }
        let temp = UnsafeMutablePointer<UInt8>.allocate(capacity: srcRows.count * outCols * 3)
        defer { temp.deallocate() }
        horizontalPass(src + srcRows.lowerBound * width * 3, rowStride: width * 3, rows: srcRows.count, horiz,
                       into: temp, outStride: outCols * 3)
        verticalPass(temp, rowStride: outCols * 3, rowOffset: srcRows.lowerBound,
                     coefficients: vert!, rows: rows, columns: outCols, into: dst)
    }

    @inline(__always)
    private static func clip8(_ ss: Int32) -> UInt8 {
        let v = ss >> ResampleCoefficients.precisionBits
        return v < 0 ? 0 : v > 255 ? 255 : UInt8(truncatingIfNeeded: v)
    }

    /// Source rows one horizontal block computes together, one per SIMD lane: every row of a
    /// block uses the same weights, so the block's pixels, transposed to put the rows side by
    /// side, make each output sample a lane (no sums across lanes, no gathers). The blocks
    /// hold Int32 so that the vector loop is loads, multiplies and adds only (Swift's generic
    /// SIMD widening and clamping compiled to calls); the scalar transpose back clips.
    typealias Lanes = SIMD16<Int32>
    static let lanes = Lanes.scalarCount

    /// The horizontal pass over `rows` source rows (row r at src + r * rowStride), output
    /// columns `c.outputs` into `out` (row r at out + r * outStride, RGB8).
    private static func horizontalPass(
        _ src: UnsafePointer<UInt8>, rowStride: Int, rows: Int, _ c: ResampleCoefficients,
        into out: UnsafeMutablePointer<UInt8>, outStride: Int
    ) {
        let span = c.inputSpan
        let inSamples = span.count * 3, outSamples = c.outputs.count * 3
        // Transposed blocks: sample s of lane (row) r at s * lanes + r.
        let tin = UnsafeMutablePointer<Int32>.allocate(capacity: inSamples * lanes)
        let tout = UnsafeMutablePointer<Int32>.allocate(capacity: outSamples * lanes)
        defer { tin.deallocate(); tout.deallocate() }
        tin.initialize(repeating: 0, count: inSamples * lanes)  // lanes past a short last block
        let half = Lanes(repeating: 1 << (ResampleCoefficients.precisionBits - 1))
        c.weights.withUnsafeBufferPointer { weights in
            c.first.withUnsafeBufferPointer { first in
                c.count.withUnsafeBufferPointer { count in
                    for r0 in stride(from: 0, to: rows, by: lanes) {
                        let blockRows = min(lanes, rows - r0)
                        // Rows innermost: the stores stay contiguous (vectorised as strided loads;
                        // the other order became scatters, slow on AMD). A full block keeps the
                        // constant trip count that the measured form had; the last block may be short.
                        let block = src + r0 * rowStride + span.lowerBound * 3
                        if blockRows == lanes {
                            for s in 0 ..< inSamples {
                                let d = tin + s * lanes, p = block + s
                                for r in 0 ..< lanes { d[r] = Int32(p[r * rowStride]) }
                            }
                        } else {
                            for s in 0 ..< inSamples {
                                let d = tin + s * lanes, p = block + s
                                for r in 0 ..< blockRows { d[r] = Int32(p[r * rowStride]) }
                            }
                        }
                        for xx in 0 ..< c.outputs.count {
                            let k = weights.baseAddress! + xx * c.taps
                            var p = UnsafeRawPointer(tin + (Int(first[xx]) - span.lowerBound) * 3 * lanes)
                            var s0 = half, s1 = half, s2 = half
                            for t in 0 ..< Int(count[xx]) {
                                let w = Lanes(repeating: k[t])
                                s0 &+= p.loadUnaligned(as: Lanes.self) &* w
                                s1 &+= p.loadUnaligned(fromByteOffset: 64, as: Lanes.self) &* w
                                s2 &+= p.loadUnaligned(fromByteOffset: 128, as: Lanes.self) &* w
                                p += 3 * lanes * 4
                            }
                            let o = UnsafeMutableRawPointer(tout + xx * 3 * lanes)
                            o.storeBytes(of: s0, as: Lanes.self)
                            o.storeBytes(of: s1, toByteOffset: 64, as: Lanes.self)
                            o.storeBytes(of: s2, toByteOffset: 128, as: Lanes.self)
                        }
                        for r in 0 ..< blockRows {
                            let line = out + (r0 + r) * outStride
                            for s in 0 ..< outSamples { line[s] = clip8(tout[s * lanes + r]) }
                        }
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
