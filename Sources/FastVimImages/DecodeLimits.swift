/// Bounds on what a decode may cost, checked from the header before allocating.
public struct DecodeLimits: Sendable, Equatable, Codable {
    /// width * height; 40 MP covers any camera photo a client should send to a classifier.
    public var maxPixels: Int
    /// Each of width and height; stops 1 x 40M strips whose rows alone are huge.
    public var maxSide: Int
    /// Progressive JPEGs can hold thousands of tiny scans that each cost a full pass over
    /// the image's coefficients, however few bytes they take: a hard cap, and, below it, a
    /// scan budget that grows with the file (`jpegScans(forBytes:)`).
    public var maxJPEGScans: Int
    /// Scans any JPEG may have: encoders write 10 (libjpeg's progression) to about 20.
    public var baseJPEGScans = 32
    /// Further scans per KiB of file: each scan should carry data worth its pass.
    public var jpegScansPerKiB = 1
    /// Largest PNG ancillary chunk libpng may allocate, bytes.
    public var maxPNGChunkBytes: Int
    /// How many ancillary PNG chunks libpng may hold.
    public var maxPNGChunks: Int

    public init(maxPixels: Int = 40_000_000, maxSide: Int = 16_384, maxJPEGScans: Int = 1_000,
                maxPNGChunkBytes: Int = 8 << 20, maxPNGChunks: Int = 1_000) {
        self.maxPixels = maxPixels
        self.maxSide = maxSide
        self.maxJPEGScans = maxJPEGScans
        self.maxPNGChunkBytes = maxPNGChunkBytes
        self.maxPNGChunks = maxPNGChunks
    }

    public static let `default` = DecodeLimits()

    /// The scans a JPEG of `byteCount` bytes may hold: a 31 KB file claiming 8000 x 4900 with
    /// hundreds of empty scans costs a few normal decodes, not seconds of CPU.
    public func jpegScans(forBytes byteCount: Int) -> Int {
        min(maxJPEGScans, baseJPEGScans + byteCount / 1024 * jpegScansPerKiB)
    }
}
