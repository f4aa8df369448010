import FastVimEngine

/// ggml's `test-backend-ops` for this engine: every stage of a device's forward pass checked
/// against the CPU engine's same stage on the same inputs. The CPU runs the pass once and
/// its activations are kept between stages; before each device stage the device's
/// activations are overwritten with the CPU's, after it the buffers the stage writes are
/// compared with the CPU's. So a stage's error is its own, never inherited.
/// Runs on the emulated device in the tests and on a GPU through `fastvim selftest --ops`.
public enum BackendOpsCheck {
    public struct Case: Sendable, CustomStringConvertible {
        public let model: StandardModel
        public let batch: Int
        public let height: Int
        public let width: Int
        /// Scan chunking: short chunks force the chunked scan kernels on small inputs.
        public let chunking: ForwardPlan.ScanChunking

        public init(_ model: StandardModel, batch: Int, height: Int, width: Int, chunking: ForwardPlan.ScanChunking = .init()) {
            (self.model, self.batch, self.height, self.width, self.chunking) = (model, batch, height, width, chunking)
        }

        public var description: String {
            let chunked = chunking.length < 256 ? ", scan chunks of \(chunking.length)" : ""
            return "\(model.name) d=\(model.embedDim) d_state=\(model.stateDim) batch \(batch) \(height)x\(width)\(chunked)"
        }
    }

    /// d_state 16, 64, 128 and 256 (every size Mamba checkpoints use), odd grids, batch 1
    /// and 7, FastVim (row/column pooling), Vim (class token, every token scanned), a
    /// Channel-First channel model, and the chunked scan.
    public static let standardCases: [Case] = {
        func small(_ name: String, stateDim: Int) -> StandardModel {
            StandardModel(name: name)!.resized(embedDim: 32, depth: 2, stateDim: stateDim, numClasses: 10)
        }
        return [
            Case(small("fastvim-t", stateDim: 16), batch: 1, height: 48, width: 80),
            Case(small("fastvim-t", stateDim: 64), batch: 7, height: 80, width: 48),
            Case(small("fastvim-t", stateDim: 128), batch: 1, height: 112, width: 48),
            Case(small("fastvim-t", stateDim: 256), batch: 7, height: 48, width: 80),
            Case(small("vim-t", stateDim: 16), batch: 7, height: 48, width: 80),
            Case(small("vim-t-orig", stateDim: 256), batch: 1, height: 80, width: 48),
            Case(small("vim-t", stateDim: 128), batch: 1, height: 48, width: 80, chunking: .init(length: 3, belowLanes: 1 << 30)),
            Case(small("fastchannelvim-s", stateDim: 64), batch: 1, height: 48, width: 32),
        ]
    }()

    /// One compared buffer after one stage.
    public struct Comparison: Sendable {
        public let stage: StageProfile.Stage
        /// Which occurrence of the stage in the pass (stages repeat per block).
        public let occurrence: Int
        public let buffer: Activation
        /// max |device - cpu| / max(1, |cpu|); infinity for a NaN.
        public let error: Float
    }

    public struct Outcome: Sendable {
        public let comparisons: [Comparison]
        public let tolerance: Float
        public var worst: Comparison? { comparisons.max { $0.error < $1.error } }
        public var failures: [Comparison] { comparisons.filter { !($0.error <= tolerance) } }
        public var passed: Bool { !comparisons.isEmpty && failures.isEmpty }
    }

    public static func run(_ c: Case, on device: any KernelDevice, tolerance: Float = 1e-4, seed: UInt64 = 1) throws -> Outcome {
        let model = try VisionMamba(checkpoint: Checkpoint(random: c.model, imageSize: 64, seed: seed))
        let a = model.architecture
        var random = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let input = (0 ..< c.batch * a.inChannels * c.height * c.width).map { _ -> Float in
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(random >> 40) / Float(1 << 24) * 2 - 1
        }
        let shared = Activation.cpu.filter { Activation.device.contains($0) }

        // The CPU pass, its activations recorded after every stage.
        let ws = try model.makeWorkspace(batch: c.batch, height: c.height, width: c.width, untiledBuffers: true)
        // Read by the observer while the pass writes it: memory of its own, not an array.
        let logits = UnsafeMutableBufferPointer<Float>.allocate(capacity: c.batch * max(a.numClasses, 1))
        logits.initialize(repeating: 0)
        defer { logits.deallocate() }
        func snapshot() -> [Activation: [Float]] {
            var out = Dictionary(uniqueKeysWithValues: shared.map { ($0, Array(ws.contents(of: $0))) })
            out[.logits] = Array(logits)
            return out
        }
        var states: [(stage: StageProfile.Stage, after: [Activation: [Float]])] = []
        let initial = snapshot()
        let profile = StageProfile()
        profile.observer = { stage in
            // The profiled CPU pass pools after its conv; on the device both are one stage, as
            // are the CPU head's two steps.
            let merged: StageProfile.Stage = stage == .pool ? .conv : stage
            let after = snapshot()
            if let last = states.last, last.stage == merged, stage == .pool || stage == .head {
                states[states.count - 1].after = after
            } else {
                states.append((merged, after))
            }
        }
        ws.profile = profile
        input.withUnsafeBufferPointer { model.forward(ws, input: $0.baseAddress!, logits: a.numClasses > 0 ? logits.baseAddress : nil) }

        // The device pass, stage by stage from the CPU's inputs.
        let pass = try DeviceForwardPass(model: model, weights: try DeviceWeights(model, on: device), device: device, batch: c.batch,
                                         height: c.height, width: c.width, chunking: c.chunking)
        try input.withUnsafeBufferPointer { try pass.uploadInput($0.baseAddress!) }
        var comparisons: [Comparison] = []
        var index = 0
        var occurrences: [StageProfile.Stage: Int] = [:]
        pass.stageHook = { stage, before in
            guard index < states.count, states[index].stage == stage else {
                throw CUDAError.launch(kernel: "backend check", "device stage \(stage) where the CPU ran \(index < states.count ? "\(states[index].stage)" : "nothing")")
            }
            if before {
                let inputs = index == 0 ? initial : states[index - 1].after
                for buffer in shared {
                    try inputs[buffer]!.withUnsafeBytes { try device.upload($0, to: pass.buffer(buffer)) }
                }
                return
            }
            let occurrence = occurrences[stage, default: 0]
            occurrences[stage] = occurrence + 1
            for buffer in outputs(of: stage, a) {
                let expected = states[index].after[buffer]!
                let count = buffer == .logits ? c.batch * a.numClasses : expected.count
                let actual = try device.download(pass.buffer(buffer), floats: count)
                comparisons.append(Comparison(stage: stage, occurrence: occurrence, buffer: buffer,
                                              error: maxError(actual, Array(expected.prefix(count)))))
            }
            index += 1
        }
        try pass.enqueue()
        try device.synchronize()
        guard index == states.count else {
            throw CUDAError.launch(kernel: "backend check", "the device ran \(index) stages, the CPU \(states.count)")
        }
        return Outcome(comparisons: comparisons, tolerance: tolerance)
    }

    /// The buffers a device stage writes.
    static func outputs(of stage: StageProfile.Stage, _ a: Architecture) -> [Activation] {
        let both = Activation.Direction.allCases
        switch stage {
        case .patchEmbed: return [.patches, .residual]
        case .norms: return [.normed, .residual]
        case .transpose: return [.permuted, .hidden]
        case .inProj: return [.xz]
        case .conv: return both.map { .convolved($0) } + (a.pools ? both.map { .pooled($0) } : [])
        case .pool: return a.pools ? both.map { .pooled($0) } : []
        case .paramProjection: return both.flatMap { [.projected($0), .delta($0)] }
        case .scan: return both.map { .scanned($0) }
        case .combine: return [.gated]
        case .outProj: return a.pools ? [.hidden, .permuted] : [.hidden]
        case .head: return a.numClasses > 0 ? [.features, .logits] : [.features]
        }
    }

    static func maxError(_ actual: [Float], _ expected: [Float]) -> Float {
        guard actual.count == expected.count else { return .infinity }
        var worst: Float = 0
        for (x, y) in zip(actual, expected) {
            let error = abs(x - y) / max(1, abs(y))
            if !(error <= worst) { worst = error.isNaN ? .infinity : error }
        }
        return worst
    }
}
