import FastVimEngine
import FastVimImages

/// Classifies encoded images in batches on the calling thread: decode and preprocess each
/// image straight into the batch tensor, one forward pass, softmax. Not thread-safe: one
/// classifier per thread (it owns its workspace).
public final class Classifier {
    public let bundle: ModelBundle
    public let maxBatch: Int
    private var workspaces: [Int: Workspace] = [:]
    private var input: [Float]
    private var logits: [Float]

    public init(bundle: ModelBundle, maxBatch: Int = 8) {
        self.bundle = bundle
        self.maxBatch = max(1, maxBatch)
        input = [Float](repeating: 0, count: self.maxBatch * bundle.imageFloats)
        logits = [Float](repeating: 0, count: self.maxBatch * max(1, bundle.model.architecture.numClasses))
    }

    /// Decodes and preprocesses one image into batch slot `slot`.
    public func load(_ bytes: [UInt8], slot: Int) throws(ImageError) {
        precondition(slot < maxBatch)
        let n = bundle.imageFloats
        try input.withUnsafeMutableBufferPointer { (p) throws(ImageError) in
            try bundle.pipeline.run(bytes, into: p.baseAddress! + slot * n)
        }
    }

    /// Runs the first `count` slots; returns their logits, (count, classes) flattened.
    public func run(count: Int) throws(CheckpointError) -> ArraySlice<Float> {
        precondition(count > 0 && count <= maxBatch)
        let ws: Workspace
        if let cached = workspaces[count] {
            ws = cached
        } else {
            ws = try bundle.model.makeWorkspace(batch: count, height: bundle.inputHeight, width: bundle.inputWidth)
            workspaces[count] = ws
        }
        input.withUnsafeBufferPointer { inp in
            logits.withUnsafeMutableBufferPointer { out in
                bundle.model.forward(ws, input: inp.baseAddress!, logits: out.baseAddress!)
            }
        }
        return logits[0 ..< count * bundle.model.architecture.numClasses]
    }
}
