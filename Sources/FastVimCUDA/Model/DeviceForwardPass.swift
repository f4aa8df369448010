import FastVimEngine
import Foundation

/// FastVim's and Vim's forward pass as launches on a `KernelDevice`: the CPU engine's
/// stages, in its order and layouts, with the GEMMs on the device's BLAS. Activations live
/// in one arena allocated at creation; the weights were uploaded once for the model.
public final class DeviceForwardPass: ForwardPass, StageProfiling {
    public let plan: ForwardPlan
    public var architecture: Architecture { plan.architecture }
    public var batch: Int { plan.batch }
    public var height: Int { plan.height }
    public var width: Int { plan.width }
    public var activationBytes: Int { plan.arena.totalBytes }

    let device: any KernelDevice
    let weights: DeviceWeights
    private let memory: DeviceAllocations
    /// Each arena buffer's device address, worked out once: launches ask for them hundreds
    /// of times a pass.
    private let addresses: [Activation: DevicePointer]
    /// CUDA graphs replay a pass's few hundred launches as one: they pay where launches
    /// dominate (small batches). `FASTVIM_CUDA_GRAPHS=0` turns them off.
    static let graphsEnabled = ProcessInfo.processInfo.environment["FASTVIM_CUDA_GRAPHS"] != "0"
    private var graph: CUDAGraph?
    private var directRuns = 0
    /// Why capture failed, once it has: the pass then keeps launching directly.
    public private(set) var graphFailure: String?
    public var usesGraph: Bool { graph != nil }
    /// Norm epsilon of RMSNorm and the post-SSM LayerNorm, as the CPU engine.
    static let epsilon: Float = 1e-5

    init(model: VisionMamba, weights: DeviceWeights, device: any KernelDevice, batch: Int, height: Int, width: Int,
         chunking: ForwardPlan.ScanChunking = .init(), keptTokens: Int? = nil) throws {
        plan = ForwardPlan(architecture: model.architecture, batch: batch, height: height, width: width, chunking: chunking,
                           keptTokens: keptTokens)
        self.device = device
        self.weights = weights
        memory = DeviceAllocations(device)
        let base = try memory.allocate(bytes: max(plan.arena.totalBytes, 256))
        let arena = plan.arena
        addresses = Dictionary(uniqueKeysWithValues: arena.order.map { ($0, base.advanced(bytes: arena[$0].offset)) })
        let position = try model.positionEmbedding(height: height, width: width)
        let target = buffer(.position)
        try position.withUnsafeBytes { bytes in try device.upload(bytes, to: target) }
    }

    /// Bytes of one batch of input images: the arena's input buffer.
    var inputBytes: Int { plan.arena[.input].bytes }

    /// Copies a batch of images into the arena (pageable memory: for the benchmark and the
    /// emulated device; GPU passes stage through pinned buffers in `run`).
    func uploadInput(_ input: UnsafePointer<Float>) throws(CUDAError) {
        try device.upload(UnsafeRawBufferPointer(start: input, count: inputBytes), to: buffer(.input))
    }

    func buffer(_ activation: Activation) -> DevicePointer {
        guard let p = addresses[activation] else { preconditionFailure("no device buffer \(activation)") }
        return p
    }

    public func run(input: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>?, features: UnsafeMutablePointer<Float>?) throws {
        let a = plan.architecture
        let featureBytes = batch * a.embedDim * 4, logitBytes = batch * a.numClasses * 4
        let wantLogits = logits != nil && a.numClasses > 0
        guard let cuda = device as? CUDADevice else {
            try uploadInput(input)
            try execute()
            if let features { try device.download(buffer(.features), into: UnsafeMutableRawBufferPointer(start: features, count: featureBytes)) }
            if wantLogits, let logits { try device.download(buffer(.logits), into: UnsafeMutableRawBufferPointer(start: logits, count: logitBytes)) }
            try device.synchronize()
            return
        }
        // On a GPU the copies go through page-locked buffers: DMA straight from and to them,
        // queued on the stream with the pass, one synchronize at the end.
        let staging = try pinnedStaging(cuda)
        staging.input.bytes.baseAddress!.copyMemory(from: input, byteCount: inputBytes)
        try cuda.upload(from: staging.input, count: inputBytes, to: buffer(.input))
        try execute()
        if features != nil { try cuda.download(buffer(.features), into: staging.features, count: featureBytes) }
        if wantLogits { try cuda.download(buffer(.logits), into: staging.logits, count: logitBytes) }
        try cuda.synchronize()
        if let features { features.update(from: staging.features.floats.baseAddress!, count: batch * a.embedDim) }
        if wantLogits, let logits { logits.update(from: staging.logits.floats.baseAddress!, count: batch * a.numClasses) }
    }

    private var staging: (input: PinnedBuffer, features: PinnedBuffer, logits: PinnedBuffer)?

    private func pinnedStaging(_ cuda: CUDADevice) throws -> (input: PinnedBuffer, features: PinnedBuffer, logits: PinnedBuffer) {
        if let staging { return staging }
        let a = plan.architecture
        let made = (input: try PinnedBuffer(device: cuda, bytes: inputBytes),
                    features: try PinnedBuffer(device: cuda, bytes: batch * a.embedDim * 4),
                    logits: try PinnedBuffer(device: cuda, bytes: max(batch * a.numClasses, 1) * 4))
        staging = made
        return made
    }

    public func load(input: UnsafePointer<Float>) throws {
        try uploadInput(input)
        try device.synchronize()
    }

    public func runLoaded() throws {
        try execute()
        try device.synchronize()
    }

    /// One direct pass on the loaded input with every stage between device timestamps.
    public func profileStages() throws -> [StageProfile.Stage: Double] {
        let p = StageProfile()
        profile = p
        defer { profile = nil }
        try enqueue()
        try device.synchronize()
        p.finishPass()
        return p.millisecondsPerPass
    }

    /// The pass's launches: directly the first time (which also makes cuBLAS and the bf16
    /// weight copies ready), captured into a CUDA graph the second, replayed from then on.
    private func execute() throws {
        if let graph { return try (device as! CUDADevice).launch(graph) }
        guard Self.graphsEnabled, graphFailure == nil, let cuda = device as? CUDADevice, directRuns >= 1 else {
            directRuns += 1
            return try enqueue()
        }
        do {
            let captured = try cuda.captureGraph { try self.enqueue() }
            try cuda.launch(captured)
            graph = captured
        } catch {
            graphFailure = "\(error)"
            try enqueue()
        }
    }

    /// Every launch of one pass, from the uploaded input to features and logits; queued on
    /// the device without waiting (so it can also be captured as a CUDA graph).
    func enqueue() throws {
        let a = plan.architecture
        let (b, s, d) = (batch, plan.sequence, a.embedDim)
        try stage(.patchEmbed) { try embed() }
        for (i, block) in weights.blocks.enumerated() {
            // Block 0 reads the embedding from the residual stream; later blocks add their mixer's output first.
            try stage(.norms) {
                try device.launch(.addRMSNorm(out: buffer(.normed), residual: buffer(.residual), hidden: buffer(.hidden),
                                              weight: block.norm, rows: b * s, d: d, add: i > 0, eps: Self.epsilon))
            }
            let view = plan.mixerView(block: i)
            if view.transposed {
                try stage(.transpose) { try transpose(buffer(.permuted), buffer(.normed), toColumnMajor: true) }
                try mixer(block, view, input: buffer(.permuted), output: buffer(.permuted))
                try stage(.transpose) { try transpose(buffer(.hidden), buffer(.permuted), toColumnMajor: false) }
            } else {
                try mixer(block, view, input: buffer(.normed), output: buffer(.hidden))
            }
        }
        try stage(.norms) {
            try device.launch(.addRMSNorm(out: buffer(.normed), residual: buffer(.residual), hidden: buffer(.hidden),
                                          weight: weights.normF, rows: b * s, d: d, add: true, eps: Self.epsilon))
        }
        try stage(.head) {
            let (first, count) = plan.featureTokens
            try device.launch(.meanTokens(features: buffer(.features), normed: buffer(.normed), batch: b, sequence: s, d: d,
                                          first: first, count: count))
            if let head = weights.headWeight, let bias = weights.headBias {
                try device.gemmNT(out: buffer(.logits), ldOut: a.numClasses, a: buffer(.features), lda: d, b: head, ldb: d,
                                  m: b, n: a.numClasses, k: d, accumulate: false)
                try addBias(buffer(.logits), bias, rows: b, cols: a.numClasses)
            }
        }
    }

    /// Set for one profiled pass: each stage then runs between device timestamps.
    private var profile: StageProfile?

    /// Set by the backend check: called before (`true`) and after (`false`) each stage, with
    /// the device synchronised in between.
    var stageHook: ((StageProfile.Stage, _ before: Bool) throws -> Void)?

    func stage(_ name: StageProfile.Stage, _ body: () throws -> Void) throws {
        if let stageHook {
            try stageHook(name, true)
            try body()
            try device.synchronize()
            return try stageHook(name, false)
        }
        guard let profile else { return try body() }
        profile.add(name, milliseconds: try device.time(body))
    }

    /// im2col + GEMM: every grid token's patch embedding into `patches`.
    func embedPatches() throws(CUDAError) {
        let a = plan.architecture, d = a.embedDim
        let planes = batch * a.channelTokens
        let patchLength = a.kernelChannels * a.patchSize * a.patchSize
        let rows = plan.batch * plan.embeddedTokens
        try device.launch(.im2col(cols: buffer(.columns), image: buffer(.input), batch: planes, channels: a.kernelChannels,
                                  height: height, width: width, patch: a.patchSize, stride: a.stride, rows: plan.grid.rows,
                                  columns: plan.grid.cols))
        try device.gemmNT(out: buffer(.patches), ldOut: d, a: buffer(.columns), lda: patchLength, b: weights.patchWeight,
                          ldb: patchLength, m: rows, n: d, k: patchLength, accumulate: false)
    }

    /// The patch embeddings plus bias, channel and position embeddings and the class token,
    /// written to the residual stream.
    private func embed() throws(CUDAError) {
        let a = plan.architecture, d = a.embedDim
        try embedPatches()
        try device.launch(.embedAssemble(hidden: buffer(.residual), patches: buffer(.patches), bias: weights.patchBias,
                                         pos: buffer(.position), cls: weights.classToken, channelEmbed: weights.channelEmbed,
                                         batch: batch, positions: plan.grid.count, channels: a.channelTokens,
                                         channelFirst: a.scanOrder == .channelFirst, sequence: plan.sequence, d: d,
                                         middle: a.hasClassToken ? plan.tokens / 2 : nil))
    }

    func transpose(_ out: DevicePointer, _ x: DevicePointer, toColumnMajor: Bool) throws(CUDAError) {
        let a = plan.architecture
        let inner = a.perChannelTokens && a.scanOrder == .channelFirst ? a.channelTokens : 1
        try device.launch(.gridTranspose(out: out, x: x, batch: batch, sequence: plan.sequence, outer: a.channelTokens / inner,
                                         rows: plan.grid.rows, cols: plan.grid.cols, inner: inner, d: a.embedDim,
                                         toColumnMajor: toColumnMajor))
    }
}
