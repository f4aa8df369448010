#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Checkpoint {
    /// Random weights in the official layout, initialised as Mamba does (A_log = log(1..N),
    /// D = 1, small dt bias, norms at 1) so activations stay in a realistic range and
    /// timings reflect real checkpoints.
    public convenience init(random model: StandardModel, imageSize: Int = 224, seed: UInt64 = 0) {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        var values: [String: ([Int], [Float])] = [:]
        for (key, shape) in model.tensorShapes(imageSize: imageSize) {
            let count = shape.reduce(1, *)
            let v: [Float]
            if key.hasSuffix("A_log") || key.hasSuffix("A_b_log") {
                let n = shape[1]
                v = (0 ..< count).map { logf(Float($0 % n + 1)) }
            } else if key.hasSuffix(".D") || key.hasSuffix(".D_b") || key.hasSuffix("norm.weight") || key == "norm_f.weight"
                || key.hasSuffix("layernorm.weight") {
                v = [Float](repeating: 1, count: count)
            } else if key.contains("dt_proj") && key.hasSuffix("bias") {
                v = (0 ..< count).map { _ in logf(expm1f(0.01 + 0.005 * next())) }
            } else {
                let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1
                let scale = 1 / sqrtf(Float(fanIn))
                v = (0 ..< count).map { _ in next() * scale }
            }
            values[key] = (shape, v)
        }
        self.init(inMemory: values, source: "random \(model.name)")
    }
}
