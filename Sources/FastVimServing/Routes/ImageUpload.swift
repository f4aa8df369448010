import FastVimHTTP
import Foundation

/// The encoded image of a classify/embed request: the raw body (content type ignored; the
/// bytes are sniffed later), or the part named `image` of a multipart/form-data body.
enum ImageUpload {
    static func bytes(of request: HTTPRequest) throws(UploadError) -> [UInt8] {
        if let type = request.header("content-type"), type.lowercased().hasPrefix("multipart/form-data") {
            do {
                let boundary = try MultipartFormData.boundary(contentType: type)
                let parts = try MultipartFormData.parse(request.body, boundary: boundary)
                guard let part = parts.first(where: { $0.name == "image" }) else {
                    throw UploadError(status: 400, message: "multipart body has no part named \"image\"")
                }
                guard !part.body.isEmpty else { throw UploadError(status: 400, message: "the image part is empty") }
                return part.body
            } catch let e as UploadError {
                throw e
            } catch {
                throw UploadError(status: 400, message: "malformed multipart body: \(error)")
            }
        }
        guard !request.body.isEmpty else {
            throw UploadError(status: 400, message: "empty body: send the image bytes, or multipart/form-data with a part named \"image\"")
        }
        return request.body
    }
}

struct UploadError: Error {
    let status: Int
    let message: String
}
