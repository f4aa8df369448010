import Foundation

/// Times forward passes of one model at one input size: warm-up runs first, then each
/// iteration timed on its own so the report carries the spread, not just a mean.
public struct ForwardBenchmark: Sendable {
    public struct Result: Sendable, Codable {
        public let model: String
        public let resolution: Int
        public let batch: Int
        public let iterations: Int
        public let imagesPerSecond: Double
        public let imagesPerSecondMin: Double
        public let imagesPerSecondMax: Double
        public let msPerImage: Double
        public let workspaceBytes: Int
    }

    public let batch: Int
    public let resolution: Int
    public let warmup: Int
    public let iterations: Int

    public init(batch: Int, resolution: Int, warmup: Int = 2, iterations: Int = 10) {
        self.batch = batch
        self.resolution = resolution
        self.warmup = warmup
        self.iterations = iterations
    }

    public func run(_ model: VisionMamba, name: String) throws(CheckpointError) -> Result {
        let ws = try model.makeWorkspace(batch: batch, height: resolution, width: resolution)
        let count = batch * model.architecture.inChannels * resolution * resolution
        var state: UInt32 = 12345
        let input = (0 ..< count).map { _ -> Float in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24) * 4 - 2
        }
        var logits = [Float](repeating: 0, count: batch * max(model.architecture.numClasses, 1))
        var seconds: [Double] = []
        input.withUnsafeBufferPointer { inp in
            logits.withUnsafeMutableBufferPointer { out in
                let head = model.architecture.numClasses > 0 ? out.baseAddress : nil
                for i in 0 ..< warmup + iterations {
                    let start = DispatchTime.now().uptimeNanoseconds
                    model.forward(ws, input: inp.baseAddress!, logits: head)
                    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    if i >= warmup { seconds.append(elapsed) }
                }
            }
        }
        seconds.sort()
        let median = seconds.count % 2 == 1 ? seconds[seconds.count / 2]
            : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        let b = Double(batch)
        return Result(model: name, resolution: resolution, batch: batch, iterations: iterations,
                      imagesPerSecond: b / median, imagesPerSecondMin: b / seconds.last!,
                      imagesPerSecondMax: b / seconds.first!, msPerImage: median * 1000 / b,
                      workspaceBytes: ws.byteCount)
    }
}
