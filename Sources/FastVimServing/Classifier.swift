import FastVimEngine
import FastVimImages

/// Classifies encoded images in batches on the calling thread: decode and preprocess each
/// image straight into the batch tensor, one forward pass, softmax. Not thread-safe: one
/// classifier per thread (it owns its workspace).
public final class Classifier {
    public let bundle: ModelBundle
    public let maxBatch: Int
    private var passes: [Int: any ForwardPass] = [:]
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
    public func run(count: Int) throws -> ArraySlice<Float> {
        precondition(count > 0 && count <= maxBatch)
        let pass: any ForwardPass
        if let cached = passes[count] {
            pass = cached
        } else {
            pass = try bundle.backend.makePass(for: bundle.model, batch: count, height: bundle.inputHeight, width: bundle.inputWidth)
            passes[count] = pass
        }
        try input.withUnsafeBufferPointer { inp in
            try logits.withUnsafeMutableBufferPointer { out in
                try pass.run(input: inp.baseAddress!, logits: out.baseAddress!, features: nil)
            }
        }
        return logits[0 ..< count * bundle.model.architecture.numClasses]
    }
}
