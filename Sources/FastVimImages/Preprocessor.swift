/// Turns a decoded image into the model's input exactly like the reference pipeline:
/// Pillow resize, torchvision center crop (zero padding when the crop is larger),
/// ToTensor's /255 and Normalize, in float32 with the same operation order.
public enum Preprocessor {
    /// Writes `p.outputCount` floats, (3, cropHeight, cropWidth) CHW, at `out` (e.g. one
    /// slot of a batch tensor).
    public static func preprocess(_ image: DecodedImage, _ p: Preprocessing, into out: UnsafeMutablePointer<Float>)
        throws(ImageError)
    {
        try p.validate()
        let (rw, rh) = p.resizedSize(width: image.width, height: image.height)
        let cropH = p.cropHeight, cropW = p.cropWidth
        let yAxis = CropAxis(size: rh, crop: cropH), xAxis = CropAxis(size: rw, crop: cropW)
        let rows = yAxis.sourceRange, cols = xAxis.sourceRange
        let filter: ResampleFilter = p.interpolation == .bicubic ? .bicubic : .bilinear

        let window = UnsafeMutablePointer<UInt8>.allocate(capacity: rows.count * cols.count * 3)
        defer { window.deallocate() }
        image.pixels.withUnsafeBufferPointer { src in
            PillowResize.resize(src.baseAddress!, width: image.width, height: image.height,
                                outWidth: rw, outHeight: rh, filter: filter,
                                rows: rows, cols: cols, into: window)
        }

        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * 256) { lut in
            // ToTensor then Normalize, both in float32: (v / 255 - mean) / std.
            for c in 0..<3 {
                for v in 0..<256 { lut[c * 256 + v] = (Float(v) / 255 - p.mean[c]) / p.std[c] }
            }
            let plane = cropH * cropW
            for c in 0..<3 {
                let padValue = lut[c * 256]  // torchvision pads with 0 before normalising
                let dst = out + c * plane
                let table = lut.baseAddress! + c * 256
                for y in 0..<cropH {
                    let row = dst + y * cropW
                    guard yAxis.inside.contains(y) else {
                        row.update(repeating: padValue, count: cropW)
                        continue
                    }
                    let srcRow = window + (y - yAxis.inside.lowerBound) * cols.count * 3 + c
                    for x in 0..<cropW {
                        if xAxis.inside.contains(x) {
                            row[x] = table[Int(srcRow[(x - xAxis.inside.lowerBound) * 3])]
                        } else {
                            row[x] = padValue
                        }
                    }
                }
            }
        }
    }

    /// Convenience that returns a fresh (3, H, W) array.
    public static func preprocess(_ image: DecodedImage, _ p: Preprocessing) throws(ImageError) -> [Float] {
        try p.validate()
        var result = [Float](repeating: 0, count: p.outputCount)
        var failure: ImageError?
        result.withUnsafeMutableBufferPointer { buffer in
            do throws(ImageError) { try preprocess(image, p, into: buffer.baseAddress!) } catch { failure = error }
        }
        if let failure { throw failure }
        return result
    }
}
