import Foundation

/// safetensors: an 8-byte little-endian header length, a JSON header mapping names to
/// dtype, shape and byte offsets, then the raw little-endian data.
enum SafeTensorsReader {
    static let maxHeader = 100 << 20

    static func looksLikeSafeTensors(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 10 else { return false }
        let n = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        return n < UInt64(maxHeader) && bytes[8] == UInt8(ascii: "{")
    }

    static func read(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) -> [String: WeightTensor] {
        let r = ByteReader(bytes, what: "safetensors file \(path)")
        let headerLength = try r.int64(0)
        guard headerLength <= maxHeader else { throw .corrupt("safetensors header of \(headerLength) bytes") }
        let header = try r.slice(8, headerLength)
        let dataStart = 8 + headerLength
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(header))
        } catch {
            throw .corrupt("safetensors header is not valid JSON")
        }
        guard let entries = json as? [String: Any] else { throw .corrupt("safetensors header is not a JSON object") }
        let data = try r.slice(dataStart, bytes.count - dataStart)
        var out: [String: WeightTensor] = [:]
        for (name, value) in entries where name != "__metadata__" {
            guard let e = value as? [String: Any], let dtypeName = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offsets = e["data_offsets"] as? [Int], offsets.count == 2,
                  shape.allSatisfy({ $0 >= 0 })
            else { throw .corrupt("safetensors entry \(name) is malformed") }
            let dtype: StorageDType = switch dtypeName {
            case "F32": .float32
            case "F16": .float16
            case "BF16": .bfloat16
            default: .other(dtypeName)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= data.count else {
                throw .truncated("safetensors entry \(name) lies outside the file's data (\(begin)..<\(end) of \(data.count) bytes)")
            }
            var strides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
            let t = WeightTensor(key: name, dtype: dtype, shape: shape, strides: strides, offset: 0,
                                 storage: UnsafeRawBufferPointer(rebasing: data[begin ..< end]), bigEndian: false)
            guard t.count * dtype.byteSize == end - begin else {
                throw .corrupt("safetensors entry \(name): shape \(shape) needs \(t.count * dtype.byteSize) bytes, has \(end - begin)")
            }
            out[name] = t
        }
        return out
    }
}
