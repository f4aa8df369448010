/// Why a multipart body was refused: all are the client's fault (400, or 413 for too many parts).
public enum MultipartError: Error, Equatable, Sendable, CustomStringConvertible {
    case notMultipart
    case missingBoundary
    case malformed(String)
    case tooManyParts

    public var description: String {
        switch self {
        case .notMultipart: "not multipart/form-data"
        case .missingBoundary: "multipart boundary missing"
        case .malformed(let why): "malformed multipart body: \(why)"
        case .tooManyParts: "too many multipart parts"
        }
    }
}
