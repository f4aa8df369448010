/// What `torch.save` writes: a zip holding `<root>/data.pkl` (the object graph),
/// `<root>/data/<key>` (one entry per storage) and `<root>/byteorder`.
struct TorchZipReader {
    let archive: ZipArchive
    let root: String
    let bigEndian: Bool
    let object: PickleValue

    init(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        archive = try ZipArchive(bytes, path: path)
        guard let pkl = archive.names.first(where: { $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 }) else {
            throw .notACheckpoint(path: path, reason: "zip file without <root>/data.pkl")
        }
        root = String(pkl.dropLast("/data.pkl".count))
        if archive.entries["\(root)/byteorder"] != nil {
            let order = String(decoding: try archive.data("\(root)/byteorder"), as: UTF8.self)
            bigEndian = order.hasPrefix("big")
        } else {
            bigEndian = false
        }
        object = try Unpickler.load(try archive.data(pkl))
    }

    /// Turns a pickled tensor reference into a bounds-checked view of its storage entry
    /// (whose CRC is verified here, once per storage).
    func resolve(_ key: String, _ t: TensorRef, verified: inout [String: UnsafeRawBufferPointer]) throws(CheckpointError) -> WeightTensor {
        let entry = "\(root)/data/\(t.storage.key)"
        let storage: UnsafeRawBufferPointer
        if let s = verified[entry] {
            storage = s
        } else {
            storage = try archive.data(entry)
            verified[entry] = storage
        }
        guard storage.count >= t.storage.count * t.storage.dtype.byteSize else {
            throw .truncated("storage \(t.storage.key) of \(key) holds \(storage.count) bytes, needs \(t.storage.count * t.storage.dtype.byteSize)")
        }
        let w = WeightTensor(key: key, dtype: t.storage.dtype, shape: t.shape, strides: t.strides, offset: t.offset,
                             storage: storage, bigEndian: bigEndian)
        try w.validateBounds()
        return w
    }
}
