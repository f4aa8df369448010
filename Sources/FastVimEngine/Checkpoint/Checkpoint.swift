/// A loaded checkpoint: the model's weights as views into the memory-mapped file, and
/// float32 copies only where the stored dtype or layout demands one.
public final class Checkpoint: @unchecked Sendable {
    public enum Format: String, Sendable { case torch, safetensors, memory }

    public let path: String
    public let format: Format
    /// Which dictionary of the file holds the weights (e.g. `state_dict_ema`).
    public let source: String
    public let tensors: [String: WeightTensor]
    private let file: MappedFile?
    // Conversions are made while a model is built, on one thread; afterwards read-only.
    private var converted: [String: UnsafeMutableBufferPointer<Float>] = [:]

    public init(path: String, weights: WeightsChoice = .auto) throws(CheckpointError) {
        self.path = path
        let mapped = try MappedFile(path: path)
        file = mapped
        let bytes = mapped.bytes
        if ZipArchive.looksLikeZip(bytes) {
            let torch = try TorchZipReader(bytes, path: path)
            let selected = try WeightSelection.select(torch.object, weights)
            var verified: [String: UnsafeRawBufferPointer] = [:]
            var out: [String: WeightTensor] = [:]
            for (k, t) in selected.tensors { out[k] = try torch.resolve(k, t, verified: &verified) }
            format = .torch
            source = selected.source
            tensors = out
        } else if SafeTensorsReader.looksLikeSafeTensors(bytes) {
            guard weights != .ema else { throw .noWeights("--weights ema, but safetensors files hold one set of weights") }
            let all = try SafeTensorsReader.read(bytes, path: path)
            var stripped: [String: WeightTensor] = [:]
            for (k, v) in all where k.hasPrefix("backbone.") { stripped[String(k.dropFirst(9))] = v }
            format = .safetensors
            source = stripped.isEmpty ? "safetensors" : "safetensors (backbone.*)"
            tensors = stripped.isEmpty ? all : stripped
        } else if bytes.count >= 2, bytes[0] == 0x80 {
            throw .notACheckpoint(path: path, reason: "a bare pickle (legacy torch.save format); re-save it with a current PyTorch")
        } else {
            throw .notACheckpoint(path: path, reason: "unrecognised file signature")
        }
    }

    /// Weights built in memory (benchmarks of the standard configurations); nothing is mapped.
    init(inMemory values: [String: ([Int], [Float])], source: String) {
        path = "(memory)"
        format = .memory
        self.source = source
        file = nil
        var tensors: [String: WeightTensor] = [:]
        var converted: [String: UnsafeMutableBufferPointer<Float>] = [:]
        for (key, (shape, v)) in values {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(v.count, 1))
            _ = buffer.initialize(from: v)
            converted[key] = buffer
            var strides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
            tensors[key] = WeightTensor(key: key, dtype: .float32, shape: shape, strides: strides, offset: 0,
                                        storage: UnsafeRawBufferPointer(buffer), bigEndian: false)
        }
        self.tensors = tensors
        self.converted = converted
    }

    deinit {
        for (_, b) in converted { b.deallocate() }
    }

    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }

    public func shape(_ key: String) -> [Int]? { tensors[key]?.shape }

    /// The tensor as float32, checked against the expected shape. Points into the file
    /// when it is stored as aligned little-endian contiguous float32.
    public func float32(_ key: String, shape expected: [Int]) throws(CheckpointError) -> UnsafeBufferPointer<Float> {
        guard let t = tensors[key] else { throw .missingKey(key) }
        guard t.shape == expected else { throw .shapeMismatch(key: key, expected: expected, actual: t.shape) }
        if let c = converted[key] { return UnsafeBufferPointer(c) }
        if t.dtype == .float32, !t.bigEndian, t.isContiguous {
            let p = t.storage.baseAddress! + t.offset * 4
            if Int(bitPattern: p) % MemoryLayout<Float>.alignment == 0 {
                return UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: t.count)
            }
        }
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(t.count, 1))
        try t.convert(into: UnsafeMutableBufferPointer(rebasing: buffer[0 ..< t.count]))
        converted[key] = buffer
        return UnsafeBufferPointer(rebasing: buffer[0 ..< t.count])
    }
}
