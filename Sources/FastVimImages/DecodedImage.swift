/// A decoded image: 8-bit RGB, interleaved, rows packed (stride = width * 3). Alpha has
/// been dropped and gray replicated, exactly like Pillow's `convert("RGB")`.
public struct DecodedImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]
    /// Warnings the codec emitted while decoding (corrupt-but-recoverable data).
    public let warnings: [String]

    /// Wraps caller-made pixels (e.g. from another decoder); checks the buffer size so that
    /// preprocessing can trust it.
    public init(width: Int, height: Int, pixels: [UInt8], warnings: [String] = []) throws(ImageError) {
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard width > 0, height > 0, !overflow, count <= Int.max / 3, pixels.count == count * 3 else {
            throw .invalidParameters("RGB8 buffer of \(pixels.count) bytes does not match \(width)x\(height)")
        }
        self.init(unchecked: width, height: height, pixels: pixels, warnings: warnings)
    }

    init(unchecked width: Int, height: Int, pixels: [UInt8], warnings: [String]) {
        self.width = width
        self.height = height
        self.pixels = pixels
        self.warnings = warnings
    }
}
