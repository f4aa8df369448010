import FastVimEngine
import Foundation

/// A `ComputeBackend` over a `KernelDevice`: the CUDA backend when the device is a GPU.
/// Each model's weights go up once, on its first pass; passes share the device one at a
/// time (one stream: a lock keeps two batchers' launches and downloads from interleaving).
public final class KernelBackend: ComputeBackend, @unchecked Sendable {
    public let name: String
    public let summary: String
    public let device: any KernelDevice
    private let lock = NSLock()
    private var uploaded: [ObjectIdentifier: (model: VisionMamba, weights: DeviceWeights)] = [:]

    /// When passes cut their scans into chunks (small batches of long Vim sequences).
    public let chunking: ForwardPlan.ScanChunking

    public init(name: String, device: any KernelDevice, chunking: ForwardPlan.ScanChunking = .init()) {
        self.name = name
        self.device = device
        self.chunking = chunking
        summary = device.summary
    }

    public func makePass(for model: VisionMamba, batch: Int, height: Int, width: Int) throws -> any ForwardPass {
        try lock.withLock {
            let weights = try weights(for: model)
            let pass = try DeviceForwardPass(model: model, weights: weights, device: device, batch: batch, height: height, width: width,
                                             chunking: chunking)
            return SerializedPass(pass, lock: lock)
        }
    }

    /// FastVim-T's in_proj at batch 128 (a GPU needs the large batch to fill up), timed
    /// around a synchronize after a warm-up call.
    public func referenceGemmRate() throws -> Double {
        try lock.withLock {
            let (m, n, k) = (128 * 196, 768, 192)
            let memory = DeviceAllocations(device)
            let a = try memory.upload([Float](repeating: 0.5, count: m * k))
            let b = try memory.upload([Float](repeating: 0.25, count: n * k))
            let c = try memory.allocate(bytes: m * n * 4)
            try device.gemmNT(out: c, ldOut: n, a: a, lda: k, b: b, ldb: k, m: m, n: n, k: k, accumulate: false)
            try device.synchronize()
            var runs = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            repeat {
                for _ in 0 ..< 10 {
                    try device.gemmNT(out: c, ldOut: n, a: a, lda: k, b: b, ldb: k, m: m, n: n, k: k, accumulate: false)
                }
                try device.synchronize()
                runs += 10
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < 0.3
            return Double(m * n * k) * Double(runs) / elapsed / 1e9
        }
    }

    /// A pass for these K kept tokens is made per request: masked requests are rare and their
    /// K varies, so their buffers are not kept.
    public func encodeMasked(_ model: VisionMamba, input: [Float], batch: Int, height: Int, width: Int, idsKeep: [Int]) throws -> [Float] {
        let keep = try model.checkMasked(inputCount: input.count, batch: batch, height: height, width: width, idsKeep: idsKeep)
        return try lock.withLock {
            let pass = try DeviceForwardPass(model: model, weights: try weights(for: model), device: device, batch: batch,
                                             height: height, width: width, chunking: chunking, keptTokens: keep)
            return try input.withUnsafeBufferPointer { try pass.encodeMasked(input: $0.baseAddress!, idsKeep: idsKeep) }
        }
    }

    /// Bytes of weights uploaded so far, all models together.
    public var weightBytes: Int { lock.withLock { uploaded.values.reduce(0) { $0 + $1.weights.bytes } } }

    /// The device kernels' limits: the scan holds at most `ScanLimits.maxStateDim` states
    /// per channel in registers (scan.cu); every other kernel takes any size.
    public func supports(_ architecture: Architecture) -> BackendSupport {
        let n = architecture.stateDim
        guard n <= ScanLimits.maxStateDim else {
            return .unsupported("its d_state is \(n), and the CUDA scan kernels hold at most \(ScanLimits.maxStateDim) states per channel (run it with --device cpu)")
        }
        return .supported
    }

    private func weights(for model: VisionMamba) throws -> DeviceWeights {
        if let w = uploaded[ObjectIdentifier(model)] { return w.weights }
        try requireSupport(model.architecture)
        let w = try DeviceWeights(model, on: device)
        uploaded[ObjectIdentifier(model)] = (model, w)
        return w
    }
}

/// A device pass that holds the backend's lock while it runs.
final class SerializedPass: ForwardPass, StageProfiling {
    let pass: DeviceForwardPass
    let lock: NSLock

    init(_ pass: DeviceForwardPass, lock: NSLock) {
        self.pass = pass
        self.lock = lock
    }

    var architecture: Architecture { pass.architecture }
    var batch: Int { pass.batch }
    var height: Int { pass.height }
    var width: Int { pass.width }
    var activationBytes: Int { pass.activationBytes }

    func run(input: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>?, features: UnsafeMutablePointer<Float>?) throws {
        try lock.withLock { try pass.run(input: input, logits: logits, features: features) }
    }

    func load(input: UnsafePointer<Float>) throws { try lock.withLock { try pass.load(input: input) } }
    func runLoaded() throws { try lock.withLock { try pass.runLoaded() } }
    func profileStages() throws -> [StageProfile.Stage: Double] { try lock.withLock { try pass.profileStages() } }
}
