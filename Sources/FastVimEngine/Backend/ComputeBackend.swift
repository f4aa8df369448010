/// Where forward passes run. The CPU engine is one backend; the CUDA backend (FastVimCUDA)
/// is another. Batcher, classifier, server and benchmark talk to this interface only, so
/// they work unchanged on either.
public protocol ComputeBackend: AnyObject, Sendable {
    /// "cpu", "cuda:0", ...: what reports and metrics call it.
    var name: String { get }
    /// One line for logs: the device and how it computes.
    var summary: String { get }
    /// Buffers (and, on a device, uploaded weights) for batches of `batch` images of
    /// height x width. A pass is used by one thread at a time.
    func makePass(for model: VisionMamba, batch: Int, height: Int, width: Int) throws -> any ForwardPass
    /// GFLOP/s (multiply-add = 1 FLOP) of this backend's sgemm on FastVim-T's in_proj shape:
    /// what a benchmark compares the whole model's FLOP rate with.
    func referenceGemmRate() throws -> Double
    /// FastMaskVim's masked encoding: images (B, C, H, W) keeping `idsKeep` (B, K) tokens in,
    /// the normalised latent (B, K, D) of the kept tokens out (`VisionMamba.encodeMasked`).
    func encodeMasked(_ model: VisionMamba, input: [Float], batch: Int, height: Int, width: Int, idsKeep: [Int]) throws -> [Float]
    /// Whether this backend computes models of this architecture correctly (as ggml's
    /// `supports_op`): checked when a model is loaded, so a limit is a refusal that names
    /// it, never a wrong answer.
    func supports(_ architecture: Architecture) -> BackendSupport
}

/// A backend's answer to "can you run this model?".
public enum BackendSupport: Equatable, Sendable {
    case supported
    /// Why not, naming the limit and the model's value.
    case unsupported(String)
}

extension ComputeBackend {
    /// Throws `CheckpointError.unsupportedByBackend` when `supports` says no.
    public func requireSupport(_ architecture: Architecture) throws(CheckpointError) {
        if case let .unsupported(reason) = supports(architecture) { throw .unsupportedByBackend(backend: name, reason) }
    }
}

/// A model's forward pass for one input shape, its activation memory allocated once.
public protocol ForwardPass: AnyObject {
    var architecture: Architecture { get }
    var batch: Int { get }
    var height: Int { get }
    var width: Int { get }
    /// Activation memory held (host RAM on the CPU, device memory on a GPU), in bytes.
    var activationBytes: Int { get }
    /// images (batch, C, H, W) in, logits (batch, classes) out when the model has a head
    /// and `logits` is given, pooled features (batch, D) when `features` is given.
    func run(input: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>?, features: UnsafeMutablePointer<Float>?) throws
    /// For benchmarks: keeps a copy of `input` where the pass computes (device memory on a GPU)...
    func load(input: UnsafePointer<Float>) throws
    /// ...and runs it there, with no host transfers, until the pass has finished.
    func runLoaded() throws
}

/// A pass that can time its stages (the benchmark's per-block breakdown): one extra pass on
/// the loaded input, milliseconds per stage summed over the blocks.
public protocol StageProfiling {
    func profileStages() throws -> [StageProfile.Stage: Double]
}

extension ForwardPass {
    /// `run` over arrays: images (batch, C, H, W) in; logits (batch, classes), empty for an
    /// encoder without a head, and pooled features (batch, D) out. The outputs start as NaN,
    /// so a value a backend failed to write cannot pass for a result.
    public func run(_ input: [Float]) throws -> (logits: [Float], features: [Float]) {
        let a = architecture
        guard input.count == batch * a.inChannels * height * width else {
            throw CheckpointError.invalidConfig("input holds \(input.count) values, expected \(batch)x\(a.inChannels)x\(height)x\(width)")
        }
        var logits = [Float](repeating: .nan, count: batch * a.numClasses)
        var features = [Float](repeating: .nan, count: batch * a.embedDim)
        try input.withUnsafeBufferPointer { inp in
            try logits.withUnsafeMutableBufferPointer { l in
                try features.withUnsafeMutableBufferPointer { f in
                    try run(input: inp.baseAddress!, logits: l.baseAddress, features: f.baseAddress!)
                }
            }
        }
        return (logits, features)
    }
}

/// The CPU engine: GEMMs on oneDNN or OpenBLAS (`GemmLibrary`) and the engine's SIMD kernels over `Parallel`'s threads.
public final class CPUBackend: ComputeBackend {
    public static let shared = CPUBackend()
    public let name = "cpu"
    /// How the mixer cuts long sequences into tiles (nil: never).
    public let tiling: TokenTiling?
    public var summary: String {
        let tiles = tiling.map { "tiles of about \($0.target) tokens past \($0.minimumBytes >> 20) MiB of in_proj output per image" } ?? "untiled"
        return "cpu (\(Parallel.width) threads, \(GemmLibrary.current.displayName) sgemm, \(vectorLanes)-lane kernels, \(tiles))"
    }

    public init(tiling: TokenTiling? = TokenTiling()) { self.tiling = tiling }

    public func makePass(for model: VisionMamba, batch: Int, height: Int, width: Int) throws -> any ForwardPass {
        CPUForwardPass(model: model, workspace: try model.makeWorkspace(batch: batch, height: height, width: width, tiling: tiling))
    }

    public func referenceGemmRate() throws -> Double { ResolutionBenchmark.sgemmRate() }

    /// The CPU engine's loops take any size (its scan state lives in the workspace).
    public func supports(_ architecture: Architecture) -> BackendSupport { .supported }

    public func encodeMasked(_ model: VisionMamba, input: [Float], batch: Int, height: Int, width: Int, idsKeep: [Int]) throws -> [Float] {
        try model.encodeMasked(input: input, batch: batch, height: height, width: width, idsKeep: idsKeep)
    }
}

/// A workspace and the model it was made for.
public final class CPUForwardPass: ForwardPass, StageProfiling {
    public let model: VisionMamba
    public let workspace: Workspace

    init(model: VisionMamba, workspace: Workspace) {
        self.model = model
        self.workspace = workspace
    }

    public var architecture: Architecture { model.architecture }
    public var batch: Int { workspace.batch }
    public var height: Int { workspace.height }
    public var width: Int { workspace.width }
    public var activationBytes: Int { workspace.byteCount }

    public func run(input: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>?, features: UnsafeMutablePointer<Float>?) throws {
        model.forward(workspace, input: input, logits: model.architecture.numClasses > 0 ? logits : nil)
        features?.update(from: workspace.features, count: batch * model.architecture.embedDim)
    }

    private var loaded: [Float] = []
    private var loadedLogits: [Float] = []

    public func load(input: UnsafePointer<Float>) throws {
        let a = model.architecture
        loaded = Array(UnsafeBufferPointer(start: input, count: batch * a.inChannels * height * width))
        loadedLogits = [Float](repeating: 0, count: batch * max(a.numClasses, 1))
    }

    /// A tiled-only workspace lacks the buffers a profiled pass's separate stages need: the
    /// profile then runs on a full workspace of the same input, made for it and freed after.
    public func profileStages() throws -> [StageProfile.Stage: Double] {
        let profile = StageProfile()
        let ws = workspace.isTiledOnly
            ? try model.makeWorkspace(batch: batch, height: height, width: width, tiling: workspace.tiling, untiledBuffers: true)
            : workspace
        ws.profile = profile
        defer { ws.profile = nil }
        run(loadedOn: ws)
        return profile.millisecondsPerPass
    }

    public func runLoaded() throws { run(loadedOn: workspace) }

    private func run(loadedOn ws: Workspace) {
        let head = model.architecture.numClasses > 0
        loaded.withUnsafeBufferPointer { inp in
            loadedLogits.withUnsafeMutableBufferPointer { out in
                model.forward(ws, input: inp.baseAddress!, logits: head ? out.baseAddress! : nil)
            }
        }
    }
}
