import Dispatch

/// Wall time per stage of the forward pass, summed over passes and blocks, for the
/// benchmark's per-block breakdown (the paper's Table 23). Attached to a workspace, so
/// only the passes that ask for it pay for the clock reads.
public final class StageProfile: @unchecked Sendable {
    public enum Stage: String, CaseIterable, Sendable, Codable {
        case patchEmbed = "patch_embed"
        case norms
        case transpose
        case inProj = "in_proj"
        case conv
        case pool
        /// x_proj, dt_proj and softplus: the SSM's input-dependent parameters.
        case paramProjection = "param_projection"
        case scan
        /// Repeat of the pooled outputs, D skip, direction combine, LayerNorm and SiLU gate: one fused pass.
        case combine = "repeat_skip_combine_norm_gate"
        case outProj = "out_proj"
        case head
    }

    public private(set) var nanoseconds: [Stage: UInt64] = [:]
    public private(set) var passes = 0
    /// Called after each stage has run: how the backend check reads the CPU's activations
    /// between stages.
    package var observer: ((Stage) -> Void)?

    public init() {}

    @inline(__always)
    func measure<T>(_ stage: Stage, _ body: () -> T) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        nanoseconds[stage, default: 0] += DispatchTime.now().uptimeNanoseconds - start
        observer?(stage)
        return result
    }

    public func finishPass() { passes += 1 }

    /// Time measured elsewhere (a GPU's events) for `stage`.
    public func add(_ stage: Stage, milliseconds: Double) {
        nanoseconds[stage, default: 0] += UInt64(max(0, milliseconds) * 1e6)
    }

    public func reset() {
        nanoseconds.removeAll()
        passes = 0
    }

    /// Milliseconds per pass of each stage.
    public var millisecondsPerPass: [Stage: Double] {
        nanoseconds.mapValues { Double($0) / 1e6 / Double(max(passes, 1)) }
    }
}

extension Optional where Wrapped == StageProfile {
    @inline(__always)
    func measure<T>(_ stage: StageProfile.Stage, _ body: () -> T) -> T {
        if let p = self { return p.measure(stage, body) }
        return body()
    }
}
