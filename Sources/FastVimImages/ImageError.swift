/// Why an image could not be decoded or preprocessed. Every failure of this module is one
/// of these; nothing traps on hostile input.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not JPEG or PNG; the payload names what it looks like ("GIF", "unknown", ...).
    case unsupportedFormat(String)
    /// A JPEG/PNG variant this decoder refuses (e.g. 12-bit JPEG).
    case unsupportedVariant(String)
    /// Over `DecodeLimits`, detected from the header before any pixel buffer is allocated.
    case tooLarge(width: Int, height: Int, limit: String)
    case corrupt(String)
    case truncated(String)
    case outOfMemory
    /// A `Preprocessing` value or buffer the caller passed is unusable.
    case invalidParameters(String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let name): "unsupported image format: \(name) (only JPEG and PNG are accepted)"
        case .unsupportedVariant(let what): "unsupported image: \(what)"
        case .tooLarge(let w, let h, let limit): "image too large: \(w)x\(h) exceeds \(limit)"
        case .corrupt(let why): "corrupt image: \(why)"
        case .truncated(let why): "truncated image: \(why)"
        case .outOfMemory: "out of memory while decoding the image"
        case .invalidParameters(let why): "invalid preprocessing parameters: \(why)"
        }
    }
}
