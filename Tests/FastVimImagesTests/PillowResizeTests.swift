import Testing
import TestSupport
@testable import FastVimImages

/// The resize the server runs (a window of the output, rows in SIMD blocks) against Pillow's
/// algorithm written plainly: every output pixel, one pixel at a time, then the window cut out.
@Suite struct PillowResizeTests {
    /// Pillow's `ImagingResampleInner` for RGB8, over the whole image.
    static func reference(_ src: [UInt8], width: Int, height: Int, outWidth: Int, outHeight: Int,
                          filter: ResampleFilter) -> [UInt8] {
        let half: Int32 = 1 << (ResampleCoefficients.precisionBits - 1)
        func clip(_ v: Int32) -> UInt8 { UInt8(max(0, min(255, v >> ResampleCoefficients.precisionBits))) }
        var image = src, w = width
        if outWidth != width {
            let c = ResampleCoefficients(inSize: width, outSize: outWidth, filter: filter, outputs: 0 ..< outWidth)
            var next = [UInt8](repeating: 0, count: outWidth * height * 3)
            for y in 0 ..< height {
                for x in 0 ..< outWidth {
                    for ch in 0 ..< 3 {
                        var sum = half
                        for t in 0 ..< Int(c.count[x]) {
                            sum &+= Int32(image[(y * w + Int(c.first[x]) + t) * 3 + ch]) &* c.weights[x * c.taps + t]
                        }
                        next[(y * outWidth + x) * 3 + ch] = clip(sum)
                    }
                }
            }
            image = next
            w = outWidth
        }
        if outHeight != height {
            let c = ResampleCoefficients(inSize: height, outSize: outHeight, filter: filter, outputs: 0 ..< outHeight)
            var next = [UInt8](repeating: 0, count: w * outHeight * 3)
            for y in 0 ..< outHeight {
                for x in 0 ..< w {
                    for ch in 0 ..< 3 {
                        var sum = half
                        for t in 0 ..< Int(c.count[y]) {
                            sum &+= Int32(image[((Int(c.first[y]) + t) * w + x) * 3 + ch]) &* c.weights[y * c.taps + t]
                        }
                        next[(y * w + x) * 3 + ch] = clip(sum)
                    }
                }
            }
            image = next
        }
        return image
    }

    @Test(arguments: [ResampleFilter.bicubic, .bilinear])
    func windowsMatchTheWholeResize(_ filter: ResampleFilter) {
        var random = SplitMix64(seed: filter == .bicubic ? 20 : 21)
        for _ in 0 ..< 60 {
            let width = Int.random(in: 1 ... 90, using: &random), height = Int.random(in: 1 ... 90, using: &random)
            let outWidth = Int.random(in: 1 ... 70, using: &random), outHeight = Int.random(in: 1 ... 70, using: &random)
            // Sharp edges (0 and 255 side by side) drive the bicubic lobes past the clip.
            let src = (0 ..< width * height * 3).map { _ in
                Bool.random(using: &random) ? UInt8.random(in: 0 ... 255, using: &random) : (Bool.random(using: &random) ? 0 : 255)
            }
            let whole = Self.reference(src, width: width, height: height, outWidth: outWidth, outHeight: outHeight, filter: filter)
            let y0 = Int.random(in: 0 ..< outHeight, using: &random), y1 = Int.random(in: y0 + 1 ... outHeight, using: &random)
            let x0 = Int.random(in: 0 ..< outWidth, using: &random), x1 = Int.random(in: x0 + 1 ... outWidth, using: &random)
            var window = [UInt8](repeating: 0, count: (y1 - y0) * (x1 - x0) * 3)
            src.withUnsafeBufferPointer { s in
                window.withUnsafeMutableBufferPointer { d in
                    PillowResize.resize(s.baseAddress!, width: width, height: height, outWidth: outWidth, outHeight: outHeight,
                                        filter: filter, rows: y0 ..< y1, cols: x0 ..< x1, into: d.baseAddress!)
                }
            }
            var expected: [UInt8] = []
            for y in y0 ..< y1 { expected += whole[(y * outWidth + x0) * 3 ..< (y * outWidth + x1) * 3] }
            #expect(window == expected, "\(width)x\(height) -> \(outWidth)x\(outHeight), rows \(y0)..<\(y1), cols \(x0)..<\(x1)")
        }
    }
}
