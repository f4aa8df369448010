// The fuzz harnesses (fuzz/swift) compile this file together with FastVimHTTP's sources.
#if canImport(FastVimHTTP)
import FastVimHTTP
#endif
import Foundation

/// What a classify/embed request carries: the raw body (content type ignored; the bytes
/// are sniffed later), or multipart/form-data parts: `image` for RGB models,
/// `channel0`...`channel{C-1}` (grayscale PNGs) for channel models, and an optional `mask`
/// (kept token indices, or a boolean grid, as JSON) for masked encoders.
struct ImageUpload {
    var image: [UInt8]?
    var channels: [Int: [UInt8]] = [:]
    var mask: [UInt8]?

    init(_ request: HTTPRequest) throws(ServingError) {
        guard let type = request.header("content-type"), type.lowercased().hasPrefix("multipart/form-data") else {
            guard !request.body.isEmpty else {
                throw .badRequest("empty body: send the image bytes, or multipart/form-data with a part named \"image\"")
            }
            image = request.body
            return
        }
        let parts: [MultipartPart]
        do {
            parts = try MultipartFormData.parse(request.body, boundary: try MultipartFormData.boundary(contentType: type))
        } catch {
            throw .badRequest("malformed multipart body: \(error)")
        }
        // Parts are read as strictly as OIP fields: each known name once, nothing else.
        var seen: Set<String> = []
        for part in parts {
            guard let name = part.name else { throw .badRequest("a multipart part has no name") }
            guard seen.insert(name).inserted else { throw .badRequest("the multipart part \"\(name)\" appears twice") }
            let digits = name.dropFirst("channel".count)
            if name == "image" {
                image = part.body
            } else if name == "mask" {
                mask = part.body
            } else if name.hasPrefix("channel"), !digits.isEmpty, digits.count <= 2, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                      let index = Int(digits), index < 64, digits == String(index) {
                channels[index] = part.body
            } else {
                throw .badRequest("unknown multipart part \"\(name)\": parts are image, mask, and channel0 to channel63 for channel models")
            }
        }
        if image?.isEmpty == true { throw .badRequest("the image part is empty") }
    }

    /// The bytes of the single image an RGB model needs.
    func single() throws(ServingError) -> [UInt8] {
        guard let image else {
            throw .badRequest("multipart body has no part named \"image\"")
        }
        return image
    }

    /// The channel images `channel0`...`channel{n-1}`, in order.
    func channelImages(_ n: Int) throws(ServingError) -> [[UInt8]] {
        guard channels.count == n, (0 ..< n).allSatisfy({ channels[$0] != nil }) else {
            throw .badRequest("this model takes \(n) channels: send multipart parts channel0 to channel\(n - 1), one grayscale PNG each")
        }
        return (0 ..< n).map { channels[$0]! }
    }

    /// Kept token ids from the `mask` part, for a grid of `rows` x `cols` tokens: a JSON list
    /// of integer indices, a flat list of one boolean per token, or a boolean grid (rows of
    /// columns). Read strictly: a boolean is never an index, `1.5` or `1e3` never an integer.
    func keptTokens(rows: Int, cols: Int) throws(ServingError) -> [Int]? {
        guard let mask else { return nil }
        let positions = rows * cols
        let usage = "mask must be a JSON list of kept token indices (integers from 0 to \(positions - 1)), "
            + "a list of \(positions) booleans, or a \(rows) x \(cols) boolean grid"
        let parsed: JSONValue
        do {
            parsed = try StrictJSON.parse(mask)
        } catch {
            throw .badRequest("\(usage): \(error)")
        }
        guard let items = parsed.array else { throw .badRequest(usage) }
        var ids: [Int] = []
        if !items.isEmpty, items.allSatisfy({ $0.array != nil }) {
            guard items.count == rows, items.allSatisfy({ $0.array?.count == cols }) else { throw .badRequest(usage) }
            let flags = items.flatMap { $0.array ?? [] }
            guard flags.allSatisfy({ $0.bool != nil }) else { throw .badRequest(usage) }
            ids = flags.indices.filter { flags[$0].bool == true }
        } else if !items.isEmpty, items.allSatisfy({ $0.bool != nil }) {
            guard items.count == positions else { throw .badRequest(usage) }
            ids = items.indices.filter { items[$0].bool == true }
        } else {
            for item in items {
                guard let id = item.integer, id >= 0, id < positions else { throw .badRequest(usage) }
                ids.append(id)
            }
            guard Set(ids).count == ids.count else { throw .badRequest("mask indices must each appear once") }
        }
        guard !ids.isEmpty else { throw .badRequest("mask must keep at least one token") }
        return ids.sorted()
    }
}
