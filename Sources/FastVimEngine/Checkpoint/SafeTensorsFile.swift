/// A safetensors file of inputs (not a checkpoint): named tensors read as float32.
public final class SafeTensorsFile: @unchecked Sendable {
    private let file: MappedFile
    private let tensors: [String: WeightTensor]

    public init(path: String) throws(CheckpointError) {
        file = try MappedFile(path: path)
        guard SafeTensorsReader.looksLikeSafeTensors(file.bytes) else {
            throw .notACheckpoint(path: path, reason: "not a safetensors file")
        }
        tensors = try SafeTensorsReader.read(file.bytes, path: path)
    }

    public var names: [String] { tensors.keys.sorted() }

    public func shape(_ name: String) -> [Int]? { tensors[name]?.shape }

    public func floats(_ name: String) throws(CheckpointError) -> [Float] {
        guard let t = tensors[name] else {
            throw .missingKey("\(name) (the file holds: \(names.prefix(10).joined(separator: ", ")))")
        }
        var out = [Float](repeating: 0, count: t.count)
        try out.withUnsafeMutableBufferPointer { (buffer) throws(CheckpointError) in try t.convert(into: buffer) }
        return out
    }

    /// An integer tensor (I64, I32, U8), e.g. FastMaskVim's `ids_keep`.
    public func integers(_ name: String) throws(CheckpointError) -> [Int] {
        guard let t = tensors[name] else { throw .missingKey(name) }
        guard case let .other(dtype) = t.dtype, ["I64", "I32", "U8"].contains(dtype) else {
            throw .unsupportedDType(key: name, dtype: t.dtype.description)
        }
        let size = t.dtype.byteSize
        return (0 ..< t.count).map { i in
            let p = t.storage.baseAddress! + i * size
            switch size {
            case 8: return Int(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
            case 4: return Int(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
            default: return Int(p.load(as: UInt8.self))
            }
        }
    }
}
