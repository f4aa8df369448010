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
}
