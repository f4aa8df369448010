import FastVimHTTP
import Foundation

/// What a classify/embed request carries: the raw body (content type ignored; the bytes
/// are sniffed later), or multipart/form-data parts: `image` for RGB models,
/// `channel0`...`channel{C-1}` (grayscale PNGs) for channel models, and an optional `mask`
/// (kept token indices, or a boolean grid, as JSON) for masked encoders.
struct ImageUpload {
    var image: [UInt8]?
    var channels: [Int: [UInt8]] = [:]
    var mask: [UInt8]?

    init(_ request: HTTPRequest) throws(UploadError) {
        guard let type = request.header("content-type"), type.lowercased().hasPrefix("multipart/form-data") else {
            guard !request.body.isEmpty else {
                throw UploadError(status: 400, message: "empty body: send the image bytes, or multipart/form-data with a part named \"image\"")
            }
            image = request.body
            return
        }
        let parts: [MultipartPart]
        do {
            parts = try MultipartFormData.parse(request.body, boundary: try MultipartFormData.boundary(contentType: type))
        } catch {
            throw UploadError(status: 400, message: "malformed multipart body: \(error)")
        }
        for part in parts {
            guard let name = part.name else { continue }
            if name == "image" {
                image = part.body
            } else if name == "mask" {
                mask = part.body
            } else if name.hasPrefix("channel"), let index = Int(name.dropFirst("channel".count)), index >= 0, index < 64 {
                channels[index] = part.body
            }
        }
        if image?.isEmpty == true { throw UploadError(status: 400, message: "the image part is empty") }
    }

    /// The bytes of the single image an RGB model needs.
    func single() throws(UploadError) -> [UInt8] {
        guard let image else {
            throw UploadError(status: 400, message: "multipart body has no part named \"image\"")
        }
        return image
    }

    /// The channel images `channel0`...`channel{n-1}`, in order.
    func channelImages(_ n: Int) throws(UploadError) -> [[UInt8]] {
        guard channels.count == n, (0 ..< n).allSatisfy({ channels[$0] != nil }) else {
            throw UploadError(status: 400, message: "this model takes \(n) channels: send multipart parts channel0 to channel\(n - 1), one grayscale PNG each")
        }
        return (0 ..< n).map { channels[$0]! }
    }

    /// Kept token ids from the `mask` part: a JSON list of indices, a flat list of booleans,
    /// or a boolean grid (rows of columns), for a grid of `positions` tokens.
    func keptTokens(positions: Int) throws(UploadError) -> [Int]? {
        guard let mask else { return nil }
        guard let json = try? JSONSerialization.jsonObject(with: Data(mask)) as? [Any] else {
            throw UploadError(status: 400, message: "mask must be JSON: a list of kept token indices or a boolean grid")
        }
        var flat: [Any] = []
        for item in json { if let row = item as? [Any] { flat += row } else { flat.append(item) } }
        // JSON booleans and numbers are both NSNumber on Linux: a list with one 0/1 entry per
        // token is a boolean grid, anything else a list of indices.
        let numbers = flat.compactMap { ($0 as? NSNumber)?.intValue }
        guard numbers.count == flat.count else { throw UploadError(status: 400, message: "mask must hold numbers or booleans") }
        let ids = numbers.count == positions && positions > 2 && numbers.allSatisfy({ $0 == 0 || $0 == 1 })
            ? numbers.enumerated().compactMap { $0.element == 1 ? $0.offset : nil }
            : numbers
        guard !ids.isEmpty, ids.allSatisfy({ $0 >= 0 && $0 < positions }), Set(ids).count == ids.count else {
            throw UploadError(status: 400, message: "mask must keep at least one token, each index from 0 to \(positions - 1) once")
        }
        return ids.sorted()
    }
}

struct UploadError: Error {
    let status: Int
    let message: String
}
