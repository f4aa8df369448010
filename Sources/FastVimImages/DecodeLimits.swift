/// Bounds on what a decode may cost, checked from the header before allocating.
public struct DecodeLimits: Sendable, Equatable, Codable {
    /// width * height; 40 MP covers any camera photo a client should send to a classifier.
    public var maxPixels: Int
    /// Each of width and height; stops 1 x 40M strips whose rows alone are huge.
    public var maxSide: Int
    /// Progressive JPEGs can hold thousands of tiny scans that each cost a full pass.
    public var maxJPEGScans: Int
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
}
