/// A grayscale channel image at full precision: one sample per pixel, row-major
/// (stride = width), each the stored value / (2^bitDepth - 1), so in [0, 1]. Alpha, if
/// the file had any, has been dropped.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Bits per sample as stored in the file: 1, 2, 4, 8 or 16.
    public let bitDepth: Int
    public let samples: [Float]
}
