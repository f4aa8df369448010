/// An image container recognised from its leading magic bytes. File names and declared
/// content types are never trusted: clients mislabel uploads all the time.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png
    // Recognised only to name them when refusing.
    case gif, webp, bmp, tiff, heif, avif, jpeg2000, ico, qoi, psd, pdf
    case unknown

    /// Whether `ImageDecoder` can decode this format.
    public var isDecodable: Bool { self == .jpeg || self == .png }

    public var displayName: String {
        switch self {
        case .jpeg: "JPEG"
        case .png: "PNG"
        case .gif: "GIF"
        case .webp: "WebP"
        case .bmp: "BMP"
        case .tiff: "TIFF"
        case .heif: "HEIF/HEIC"
        case .avif: "AVIF"
        case .jpeg2000: "JPEG 2000"
        case .ico: "ICO"
        case .qoi: "QOI"
        case .psd: "PSD"
        case .pdf: "PDF"
        case .unknown: "unknown"
        }
    }

    /// Sniffs the format from the first bytes.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat {
        func has(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + magic.count else { return false }
            for (i, b) in magic.enumerated() where bytes[offset + i] != b { return false }
            return true
        }
        if has([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if has([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if has(Array("GIF87a".utf8)) || has(Array("GIF89a".utf8)) { return .gif }
        if has(Array("RIFF".utf8)) && has(Array("WEBP".utf8), at: 8) { return .webp }
        if has(Array("BM".utf8)) { return .bmp }
        if has([0x49, 0x49, 0x2A, 0x00]) || has([0x4D, 0x4D, 0x00, 0x2A])
            || has([0x49, 0x49, 0x2B, 0x00]) || has([0x4D, 0x4D, 0x00, 0x2B]) { return .tiff }
        if has(Array("ftyp".utf8), at: 4) {
            if has(Array("avif".utf8), at: 8) || has(Array("avis".utf8), at: 8) { return .avif }
            for brand in ["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"]
            where has(Array(brand.utf8), at: 8) { return .heif }
        }
        if has([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || has([0xFF, 0x4F, 0xFF, 0x51]) { return .jpeg2000 }
        if has([0x00, 0x00, 0x01, 0x00]) { return .ico }
        if has(Array("qoif".utf8)) { return .qoi }
        if has(Array("8BPS".utf8)) { return .psd }
        if has(Array("%PDF".utf8)) { return .pdf }
        return .unknown
    }
}
