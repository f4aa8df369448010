/// A decoded image: 8-bit RGB, interleaved, rows packed (stride = width * 3). Alpha has
/// been dropped and gray replicated, exactly like Pillow's `convert("RGB")`.
public struct DecodedImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]
    /// Warnings the codec emitted while decoding (corrupt-but-recoverable data).
    public let warnings: [String]

    public init(width: Int, height: Int, pixels: [UInt8], warnings: [String] = []) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3, "RGB8 buffer size mismatch")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.warnings = warnings
    }
}
