/// One tensor of a checkpoint: where its elements lie in the memory-mapped file and how
/// to read them. Nothing is copied until `Checkpoint.float32(_:)` is asked for it.
public struct WeightTensor: @unchecked Sendable {
    public let key: String
    public let dtype: StorageDType
    public let shape: [Int]
    let strides: [Int]
    /// In elements, from the start of `storage`.
    let offset: Int
    let storage: UnsafeRawBufferPointer
    let bigEndian: Bool

    public var count: Int { shape.reduce(1, *) }

    var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }

    /// Checks that every element the shape and strides address lies inside the storage.
    func validateBounds() throws(CheckpointError) {
        guard count > 0 else { return }
        var last = offset
        for (size, stride) in zip(shape, strides) {
            let (m, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (s, o2) = last.addingReportingOverflow(m)
            guard !o1, !o2 else { throw .corrupt("tensor \(key) has absurd strides") }
            last = s
        }
        guard last < storage.count / dtype.byteSize else {
            throw .corrupt("tensor \(key) of shape \(shape) reaches element \(last) of a storage holding \(storage.count / dtype.byteSize)")
        }
    }

    /// Writes the tensor, in row-major order, as float32.
    func convert(into out: UnsafeMutableBufferPointer<Float>) throws(CheckpointError) {
        precondition(out.count == count)
        let size = dtype.byteSize
        let base = storage.baseAddress!
        func element(_ index: Int) -> Float {
            let p = base + index * size
            switch dtype {
            case .float32:
                let bits = p.loadUnaligned(as: UInt32.self)
                return Float(bitPattern: bigEndian ? bits.byteSwapped : bits)
            case .float16:
                let bits = p.loadUnaligned(as: UInt16.self)
                return Float(Float16(bitPattern: bigEndian ? bits.byteSwapped : bits))
            case .bfloat16:
                let bits = p.loadUnaligned(as: UInt16.self)
                return Float(bitPattern: UInt32(bigEndian ? bits.byteSwapped : bits) << 16)
            case .other:
                return 0
            }
        }
        if case .other = dtype { throw .unsupportedDType(key: key, dtype: dtype.description) }
        if isContiguous {
            for i in 0 ..< count { out[i] = element(offset + i) }
            return
        }
        // General strided walk in row-major order of the logical shape.
        var index = [Int](repeating: 0, count: shape.count)
        for i in 0 ..< count {
            var e = offset
            for d in 0 ..< shape.count { e += index[d] * strides[d] }
            out[i] = element(e)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
