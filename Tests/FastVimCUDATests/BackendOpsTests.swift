@testable import FastVimCUDA
import FastVimEngine
import Testing

/// ggml's test-backend-ops on the emulated device: every stage of the device's forward pass
/// against the CPU engine's stage on the same inputs, for d_state 16 to 256, odd grids,
/// batch 1 and 7 (`BackendOpsCheck.standardCases`; `fastvim selftest --device cuda` runs the
/// same cases on a GPU).
@Suite struct BackendOpsTests {
    @Test(arguments: BackendOpsCheck.standardCases.indices)
    func everyStageMatchesTheCPU(_ index: Int) throws {
        let c = BackendOpsCheck.standardCases[index]
        let outcome = try BackendOpsCheck.run(c, on: try EmulatedDevice())
        #expect(outcome.passed, "\(c): \(outcome.failures.prefix(5).map { "\($0.stage.rawValue) #\($0.occurrence) \($0.buffer) \($0.error)" })")
        // Every stage the pass has was compared (the pool stage is the conv's on a device).
        let stages = Set(outcome.comparisons.map(\.stage))
        let expected: Set<StageProfile.Stage> = c.model.family == .fastvim || c.model.family == .fastChannelVim
            ? Set(StageProfile.Stage.allCases).subtracting([.pool])
            : Set(StageProfile.Stage.allCases).subtracting([.pool, .transpose])
        #expect(stages == expected, "\(c)")
    }

    /// The check has teeth: a device stage that computes something else is caught, at that stage.
    @Test func aWrongStageIsCaught() throws {
        let c = BackendOpsCheck.standardCases[0]
        let outcome = try BackendOpsCheck.run(c, on: SabotagedDevice(try EmulatedDevice()))
        #expect(!outcome.passed)
        #expect(outcome.failures.contains { $0.stage == .combine && $0.buffer == .gated })
        #expect(!outcome.failures.contains { $0.stage != .combine }, "errors must not leak into later stages: they start from the CPU's inputs")
    }

    /// d_state 512 is refused when a model is loaded on the device, with the limit named; the
    /// CPU runs it.
    @Test func stateSizesPastTheLimitAreRefusedAtLoad() throws {
        let architecture = try VisionMamba(checkpoint: Checkpoint(random: StandardModel(name: "fastvim-t")!.resized(embedDim: 16, depth: 1, stateDim: 512, numClasses: 4), imageSize: 32)).architecture
        let backend = KernelBackend(name: "emulated", device: try EmulatedDevice())
        #expect(backend.supports(architecture) != .supported)
        #expect(CPUBackend.shared.supports(architecture) == .supported)
        #expect {
            try backend.requireSupport(architecture)
        } throws: { error in
            let text = "\(error)"
            return text.contains("d_state is 512") && text.contains("at most 256")
        }
    }
}

/// Runs `fv_combine_norm_gate` with a LayerNorm epsilon of 0.5 instead of 1e-5: a slip whose
/// output is wrong everywhere but finite and of the right scale.
final class SabotagedDevice: KernelDevice {
    let inner: EmulatedDevice
    init(_ inner: EmulatedDevice) { self.inner = inner }

    var summary: String { "sabotaged " + inner.summary }
    func allocate(bytes: Int) throws(CUDAError) -> DevicePointer { try inner.allocate(bytes: bytes) }
    func free(_ pointer: DevicePointer) { inner.free(pointer) }
    func upload(_ host: UnsafeRawBufferPointer, to pointer: DevicePointer) throws(CUDAError) { try inner.upload(host, to: pointer) }
    func download(_ pointer: DevicePointer, into host: UnsafeMutableRawBufferPointer) throws(CUDAError) { try inner.download(pointer, into: host) }
    func gemmNT(out: DevicePointer, ldOut: Int, a: DevicePointer, lda: Int, b: DevicePointer, ldb: Int, m: Int, n: Int, k: Int,
                accumulate: Bool) throws(CUDAError) {
        try inner.gemmNT(out: out, ldOut: ldOut, a: a, lda: lda, b: b, ldb: ldb, m: m, n: n, k: k, accumulate: accumulate)
    }
    func synchronize() throws(CUDAError) { try inner.synchronize() }

    func launch(_ call: KernelCall) throws(CUDAError) {
        guard call.kernel == .combineNormGate else { return try inner.launch(call) }
        var arguments = call.arguments
        arguments[arguments.count - 1] = .float(0.5) // eps
        try inner.launch(testKernel: call.kernel.name, call.shape, arguments)
    }
}
