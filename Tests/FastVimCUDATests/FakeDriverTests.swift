@testable import FastVimCUDA
import FastVimEngine
import Foundation
import Testing
import TestSupport

/// The real `CUDADevice` (driver API calls, cuBLAS mapping, graphs, pinned copies, the
/// kernel cache) end to end on the host, over a fake libcuda/libcublas (FakeDriver/) and the
/// real NVRTC, whose PTX the fake binds to the emulated kernels of the same names.
///
/// Serialized: the fake is one GPU with one primary context per process, and the tests
/// count what is left allocated on it.
@Suite(.serialized) struct FakeDriverTests {
    /// The logits fixtures: their passes capture graphs (the masked encoder's do not).
    static let names: [String] = (try? GoldenFixtures(directory: Fixtures.directory).cases.filter { $0.idsKeep == nil }.map(\.name)) ?? []
    static let nvrtcDirectory = KernelCompilationTests.directories[0]

    /// One PTX cache for the suite, filled by the first open (NVRTC takes seconds a kernel):
    /// its directory, and how many kernels that open compiled and loaded from it.
    static let cache: Result<(directory: String, compiled: Int, fromCache: Int), any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fastvim-fake-cuda-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        temporaryCache = directory
        atexit { if let directory = temporaryCache { try? FileManager.default.removeItem(atPath: directory) } }
        let device = try Self.device(try Self.open(cacheDirectory: directory))
        return (directory, device.filesCompiled, device.filesFromCache)
    }

    static func open(_ precision: GemmPrecision = .fp32, cacheDirectory: String? = nil) throws -> KernelBackend {
        let fake = try FakeDriverLibrary.shared()
        return try CUDABackend.open(device: "cuda", libraryDirectory: fake.directory + ":" + nvrtcDirectory, precision: precision,
                                    cacheDirectory: try cacheDirectory ?? cache.get().directory)
    }

    static func device(_ backend: KernelBackend) throws -> CUDADevice {
        try #require(backend.device as? CUDADevice)
    }

    /// Nothing of the device is left on the fake GPU: memory, pinned buffers, streams,
    /// modules, graphs, events, cuBLAS handles, and its hold on the primary context.
    static func expectAllReleased(_ fake: FakeDriverLibrary, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for stat in ["device_allocations", "pinned_allocations", "streams", "events", "modules", "functions", "graphs", "graph_execs",
                     "context_retains", "cublas_handles"] {
            #expect(fake.stat(stat) == 0, "\(label): \(stat) \(fake.stat(stat)) left", sourceLocation: sourceLocation)
        }
    }

    /// A fixture through `repeats` runs of one pass (direct, captured into a CUDA graph,
    /// replayed), on a backend opened for it and released after.
    static func runFixture(_ name: String, precision: GemmPrecision, repeats: Int = 3) throws -> (GoldenFixtures.Outcome, DeviceForwardPass) {
        let fixtures = try GoldenFixtures(directory: Fixtures.directory)
        let c = try #require(fixtures.cases.first { $0.name == name })
        let backend = RecordingBackend(try open(precision))
        let outcome = try fixtures.run(c, on: backend, repeats: repeats)
        return (outcome, try #require(backend.passes.first))
    }

    /// FastMaskVim's masked encoding through the real CUDADevice: int32 index uploads, the
    /// kept-token gathers and the row pooling, against fixture d.
    @Test func maskedEncodingMatchesTheFixture() throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let fixtures = try GoldenFixtures(directory: Fixtures.directory)
            let c = try #require(fixtures.cases.first { $0.idsKeep != nil })
            let outcome = try fixtures.run(c, on: try Self.open(), repeats: 2)
            #expect(outcome.passed, "\(c.name): max |diff| \(outcome.maxDifference) > \(outcome.tolerance)")
        }
        Self.expectAllReleased(fake, "masked")
    }

    @Test(arguments: names)
    func matchesTheFixtureThroughAGraph(_ name: String) throws {
        let fake = try FakeDriverLibrary.shared()
        let before = (replays: fake.stat("graph_launches"), gemms: fake.stat("gemms_run"),
                      defaultWorkspace: fake.stat("gemms_on_default_workspace"), faults: fake.stat("faults"))
        do {
            let (outcome, pass) = try Self.runFixture(name, precision: .fp32)
            #expect(outcome.passed, "\(name): max |diff| \(outcome.maxDifference) > \(outcome.tolerance)")
            #expect(pass.usesGraph && pass.graphFailure == nil, "\(name): no graph (\(pass.graphFailure ?? "not captured"))")
        }
        // Run 2 launches the graph it captured, run 3 replays it.
        #expect(fake.stat("graph_launches") - before.replays == 2)
        #expect(fake.stat("gemms_run") > before.gemms)
        // cublasSetStream drops a workspace set before it: every GEMM must see the device's own.
        #expect(fake.stat("gemms_on_default_workspace") == before.defaultWorkspace)
        #expect(fake.stat("faults") == before.faults, "\(name): \(fake.lastFault)")
        Self.expectAllReleased(fake, name)
    }

    /// A replayed graph computes from the input of its own run: three different batches
    /// through one pass (direct, captured, replayed) at odd sizes (padding, a resized
    /// position embedding), logits and features against the CPU engine's; then the
    /// benchmarks' load/runLoaded and stage profile. The replay runs every kernel again and
    /// launches none.
    @Test(arguments: ["fastvim_small.ckpt", "vim_small.pth"])
    func replaysComputeTheirOwnInputs(_ checkpoint: String) throws {
        let fake = try FakeDriverLibrary.shared()
        let model = try VisionMamba(checkpoint: try Checkpoint(path: Fixtures.path(checkpoint)),
                                    config: try ModelConfig(json: Data(#"{"image_size": [64, 96]}"#.utf8)))
        let (b, h, w) = (2, 70, 81)
        var random = SplitMix64(seed: 7)
        do {
            let backend = try Self.open()
            let pass = try backend.makePass(for: model, batch: b, height: h, width: w)
            let cpu = try CPUBackend.shared.makePass(for: model, batch: b, height: h, width: w)
            var direct = (launches: 0, kernels: 0)
            for run in 0 ..< 3 {
                let input = random.floats(b * 3 * h * w, -2, 2)
                let expected = try cpu.run(input)
                let before = (launches: fake.stat("launches"), kernels: fake.stat("kernels_run"))
                let actual = try pass.run(input)
                let done = (launches: fake.stat("launches") - before.launches, kernels: fake.stat("kernels_run") - before.kernels)
                if run == 0 { direct = done }
                if run == 2 { #expect(done.launches == 0 && done.kernels == direct.kernels && direct.kernels > 0, "replay: \(done), direct: \(direct)") }
                expectClose(actual.0, expected.0, atol: 1e-4 * max(1, maxAbs(expected.0)), "\(checkpoint) run \(run) logits")
                expectClose(actual.1, expected.1, atol: 1e-4 * max(1, maxAbs(expected.1)), "\(checkpoint) run \(run) features")
            }
            let serialized = try #require(pass as? SerializedPass)
            #expect(serialized.pass.usesGraph)
            let input = random.floats(b * 3 * h * w)
            try input.withUnsafeBufferPointer { try pass.load(input: $0.baseAddress!) }
            try pass.runLoaded()
            try pass.runLoaded()
            // The benchmark's per-stage breakdown: every stage between two CUDA events.
            let stages = try serialized.pass.profileStages()
            #expect(!stages.isEmpty && stages.values.allSatisfy { $0 >= 0 } && stages.values.reduce(0, +) > 0)
        }
        Self.expectAllReleased(fake, checkpoint)
    }

    /// TF32 (the handle's math mode) and bf16 (the conversion kernel, then cublasGemmEx), with
    /// the bf16 weights converted by the direct run and the activations inside the capture.
    /// Fewer runs than fp32 (FastVim-T takes seconds a run): the graph replays are the same
    /// work, checked on every fixture in fp32 and for bf16 GEMMs on their own.
    @Test(arguments: [(GemmPrecision.tf32, 1), (.bf16, 2)])
    func reducedPrecisionDriftsALittle(_ precision: GemmPrecision, repeats: Int) throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let (outcome, pass) = try Self.runFixture("fastvim_t", precision: precision, repeats: repeats)
            print("fake CUDA, \(precision.rawValue) GEMMs, fastvim_t: max |diff| \(outcome.maxDifference) (fp32 bound \(outcome.tolerance))")
            #expect(outcome.maxDifference > 1e-6 && outcome.maxDifference < 0.5)
            #expect(pass.usesGraph == (repeats > 1) && pass.graphFailure == nil, "\(pass.graphFailure ?? "not captured")")
        }
        Self.expectAllReleased(fake, precision.rawValue)
    }

    /// Row-major out (m, n) = a (m, k) · b (n, k)ᵀ (+ out) through cuBLAS's column-major GEMM,
    /// on odd sizes with padded leading dimensions, against a host loop over the inputs as
    /// each precision rounds them. bf16: a new upload to the weight replaces its bf16 copy.
    @Test(arguments: GemmPrecision.allCases)
    func gemmNTMatchesTheRowMajorDefinition(_ precision: GemmPrecision) throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let device = try Self.device(try Self.open(precision))
            let (m, n, k, lda, ldb, ldOut) = (5, 7, 9, 11, 13, 10)
            var random = SplitMix64(seed: 42)
            let a = random.floats(m * lda), out0 = random.floats(m * ldOut)
            var b = random.floats(n * ldb)
            let pa = try device.upload(a), pb = try device.upload(b), po = try device.upload(out0)
            func expected(_ b: [Float], accumulate: Bool) -> [Float] {
                var out = out0
                for i in 0 ..< m {
                    for j in 0 ..< n {
                        var sum: Float = 0
                        for p in 0 ..< k { sum += precision.rounded(a[i * lda + p]) * precision.rounded(b[j * ldb + p]) }
                        out[i * ldOut + j] = (accumulate ? out0[i * ldOut + j] : 0) + sum
                    }
                }
                return out
            }
            try device.gemmNT(out: po, ldOut: ldOut, a: pa, lda: lda, b: pb, ldb: ldb, m: m, n: n, k: k, accumulate: true)
            expectClose(try device.download(po, floats: m * ldOut), expected(b, accumulate: true), tolerance: 1e-5, "\(precision) accumulate")

            b = random.floats(n * ldb)
            try device.upload(b, into: pb)
            try device.upload(out0, into: po)
            try device.gemmNT(out: po, ldOut: ldOut, a: pa, lda: lda, b: pb, ldb: ldb, m: m, n: n, k: k, accumulate: false)
            // The padding columns of out (n ..< ldOut) keep what they held.
            expectClose(try device.download(po, floats: m * ldOut), expected(b, accumulate: false), tolerance: 1e-5, "\(precision) new weight")
        }
        Self.expectAllReleased(fake, "gemmNT \(precision)")
    }

    /// k = 0: out = 0, or out unchanged when accumulating (cuBLAS still wants lda, ldb >= 1).
    @Test(arguments: GemmPrecision.allCases)
    func gemmNTWithAnEmptyInnerDimension(_ precision: GemmPrecision) throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let device = try Self.device(try Self.open(precision))
            let (m, n) = (3, 4)
            let initial = (0 ..< m * n).map { Float($0) }
            let a = try device.allocate(bytes: 4), b = try device.allocate(bytes: 4), out = try device.upload(initial)
            try device.gemmNT(out: out, ldOut: n, a: a, lda: 1, b: b, ldb: 1, m: m, n: n, k: 0, accumulate: true)
            #expect(try device.download(out, floats: m * n) == initial)
            try device.gemmNT(out: out, ldOut: n, a: a, lda: 1, b: b, ldb: 1, m: m, n: n, k: 0, accumulate: false)
            #expect(try device.download(out, floats: m * n) == [Float](repeating: 0, count: m * n))
        }
        Self.expectAllReleased(fake, "k = 0, \(precision)")
    }

    /// A weight first used inside a capture is converted to bf16 there and then, on another
    /// stream: the graph converts only the activations at each replay, and reads the copy.
    @Test func bf16WeightsFirstSeenInACaptureAreConvertedOutsideIt() throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let device = try Self.device(try Self.open(.bf16))
            let (m, n, k) = (6, 5, 8)
            var random = SplitMix64(seed: 3)
            let a = random.floats(m * k), b = random.floats(n * k)
            let pa = try device.upload(a), pb = try device.upload(b), out = try device.allocate(bytes: m * n * 4)
            try device.synchronize()
            let graph = try device.captureGraph {
                try device.gemmNT(out: out, ldOut: n, a: pa, lda: k, b: pb, ldb: k, m: m, n: n, k: k, accumulate: false)
            }
            var expected = [Float](repeating: 0, count: m * n)
            for i in 0 ..< m {
                for j in 0 ..< n {
                    for p in 0 ..< k { expected[i * n + j] += roundToBFloat16(a[i * k + p]) * roundToBFloat16(b[j * k + p]) }
                }
            }
            for _ in 0 ..< 2 {
                let before = (kernels: fake.stat("kernels_run"), gemms: fake.stat("gemms_run"))
                try device.launch(graph)
                try device.synchronize()
                #expect(fake.stat("kernels_run") - before.kernels == 1 && fake.stat("gemms_run") - before.gemms == 1)
                expectClose(try device.download(out, floats: m * n), expected, tolerance: 1e-5, "bf16 GEMM from a graph")
            }
        }
        Self.expectAllReleased(fake, "bf16 capture")
    }

    /// Memory freed while a graph is being captured may be what the graph reads: it must
    /// stay allocated until the graph is gone.
    @Test func freesDuringACaptureOutliveTheGraph() throws {
        let fake = try FakeDriverLibrary.shared()
        let faults = fake.stat("faults")
        defer { fake.clearFault() }
        do {
            let device = try Self.device(try Self.open())
            let bias = try device.upload([Float](repeating: 1, count: 64))
            let allocated = fake.stat("device_allocations")
            do {
                let graph = try device.captureGraph {
                    let scratch = try device.allocate(bytes: 64 * 4)
                    try device.launch(.addRowBias(x: scratch, bias: bias, rows: 1, cols: 64))
                    device.free(scratch)
                }
                try device.launch(graph)
                try device.synchronize()
            }
            #expect(fake.stat("faults") == faults, "\(fake.lastFault)")
            // Gone with the graph.
            #expect(fake.stat("device_allocations") == allocated)
        }
        Self.expectAllReleased(fake, "free in capture")
    }

    @Test func secondOpenLoadsEveryKernelFromTheCache() throws {
        let fake = try FakeDriverLibrary.shared()
        let first = try Self.cache.get()
        let count = KernelFile.allCases.count
        #expect(first.compiled + first.fromCache == count)
        do {
            let device = try Self.device(try Self.open())
            #expect(device.filesFromCache == count && device.filesCompiled == 0)
            #expect(device.gpu.architecture == "sm_90")
            #expect(device.driverVersion == (12, 9))
            let memory = try device.memoryInfo()
            #expect(memory.total == 80 << 30 && memory.free == memory.total - CUDADevice.workspaceBytes)
        }
        Self.expectAllReleased(fake, "reopen")
    }

    @Test func referenceGemmRateRuns() throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let rate = try Self.open().referenceGemmRate()
            #expect(rate > 0)
        }
        Self.expectAllReleased(fake, "referenceGemmRate")
    }

    /// Errors of the driver come back as CUDAError naming the call and the CUresult.
    @Test func driverErrorsAreNamed() throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let device = try Self.device(try Self.open())
            #expect {
                _ = try device.allocate(bytes: 1 << 50)
            } throws: { error in
                let text = "\(error)"
                return error is CUDAError && text.contains("cuMemAlloc_v2") && text.contains("CUDA_ERROR_OUT_OF_MEMORY: out of memory")
            }
            // A kernel touching memory it does not own faults the context; the next synchronize says so.
            let bias = try device.upload([Float](repeating: 1, count: 4))
            try device.launch(.addRowBias(x: DevicePointer(address: 0x1000), bias: bias, rows: 1, cols: 4))
            #expect { try device.synchronize() } throws: { "\($0)".contains("CUDA_ERROR_ILLEGAL_ADDRESS") }
            #expect(fake.lastFault.contains("fv_add_row_bias: argument 0"))
            fake.clearFault()
            device.free(bias)
            try device.synchronize()
        }
        fake.inject("cuInit", code: 100)
        #expect { _ = try Self.open() } throws: { "\($0)".contains("cuInit failed: CUDA_ERROR_NO_DEVICE") }
        Self.expectAllReleased(fake, "errors")
    }

    /// A failure part way through opening releases exactly what had been acquired.
    @Test func failedOpenReleasesWhatItGot() throws {
        let fake = try FakeDriverLibrary.shared()
        _ = try Self.cache.get()
        fake.inject("cuModuleLoadData", skip: 5, code: 218)
        #expect { _ = try Self.open() } throws: { "\($0)".contains("cuModuleLoadData(") && "\($0)".contains("CUDA_ERROR_INVALID_PTX") }
        Self.expectAllReleased(fake, "failed open")
    }

    /// A driver older than NVRTC (CUDA 12.4 reads PTX ISA 8.4, NVRTC 12.9 writes 8.8) loads
    /// CUBINs for the GPU from the same NVRTC instead, and the pass runs on them; when the
    /// CUBIN does not load either, the error says which NVRTC to use.
    @Test func ptxNewerThanTheDriverFallsBackToCUBINs() throws {
        let fake = try FakeDriverLibrary.shared()
        _ = try Self.cache.get()
        fake.setDriverVersion(12040)
        defer { fake.setDriverVersion(12090) }
        do {
            let backend = RecordingBackend(try Self.open())
            let device = try Self.device(backend.inner)
            #expect(device.filesCompiled == KernelFile.allCases.count && device.driverVersion == (12, 4))
            let fixtures = try GoldenFixtures(directory: Fixtures.directory)
            let c = try #require(fixtures.cases.first { $0.name == "vim_small" })
            let outcome = try fixtures.run(c, on: backend, repeats: 2)
            #expect(outcome.passed && backend.passes.first?.usesGraph == true)
        }
        Self.expectAllReleased(fake, "CUBIN")

        // The PTX is refused for its version (the fake's own check), the CUBIN by injection.
        fake.inject("cuModuleLoadData", skip: 1, code: 209)
        #expect { _ = try Self.open() } throws: { error in
            let text = "\(error)"
            return text.contains("as CUBIN (CUDA_ERROR_NO_BINARY_FOR_GPU") && text.contains("use an NVRTC of the driver's major version")
        }
        Self.expectAllReleased(fake, "neither PTX nor CUBIN")
    }

    /// When capture fails, the pass says why and keeps launching directly, with right results.
    @Test func failedCaptureFallsBackToDirectLaunches() throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let backend = RecordingBackend(try Self.open())
            let fixtures = try GoldenFixtures(directory: Fixtures.directory)
            let c = try #require(fixtures.cases.first { $0.name == "vim_small" })
            fake.inject("cuStreamBeginCapture_v2", code: 900)
            let outcome = try fixtures.run(c, on: backend, repeats: 3)
            #expect(outcome.passed)
            let pass = try #require(backend.passes.first)
            #expect(!pass.usesGraph)
            #expect(pass.graphFailure?.contains("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED") == true)
        }
        Self.expectAllReleased(fake, "failed capture")
    }

    /// Event timing around queued work: it runs when the end event is waited for.
    @Test func eventsTimeQueuedWork() throws {
        let fake = try FakeDriverLibrary.shared()
        do {
            let device = try Self.device(try Self.open())
            let x = try device.upload([Float](repeating: 1, count: 1 << 16)), bias = try device.upload([Float](repeating: 2, count: 256))
            let milliseconds = try device.time {
                try device.launch(.addRowBias(x: x, bias: bias, rows: 256, cols: 256))
            }
            #expect(milliseconds > 0)
            #expect(try device.download(x, floats: 1 << 16).allSatisfy { $0 == 3 })
        }
        Self.expectAllReleased(fake, "events")
    }
}

/// Removed when the test process exits.
nonisolated(unsafe) private var temporaryCache: String?

/// A backend that keeps the passes it makes, to ask them whether they captured a graph.
final class RecordingBackend: ComputeBackend, @unchecked Sendable {
    let inner: KernelBackend
    private(set) var passes: [DeviceForwardPass] = []

    init(_ inner: KernelBackend) { self.inner = inner }

    var name: String { inner.name }
    var summary: String { inner.summary }

    func makePass(for model: VisionMamba, batch: Int, height: Int, width: Int) throws -> any ForwardPass {
        let pass = try inner.makePass(for: model, batch: batch, height: height, width: width)
        if let serialized = pass as? SerializedPass { passes.append(serialized.pass) }
        return pass
    }

    func referenceGemmRate() throws -> Double { try inner.referenceGemmRate() }

    func supports(_ architecture: Architecture) -> BackendSupport { inner.supports(architecture) }

    func encodeMasked(_ model: VisionMamba, input: [Float], batch: Int, height: Int, width: Int, idsKeep: [Int]) throws -> [Float] {
        try inner.encodeMasked(model, input: input, batch: batch, height: height, width: width, idsKeep: idsKeep)
    }
}

extension KernelDevice {
    func upload(_ values: [Float], into pointer: DevicePointer) throws {
        try values.withUnsafeBytes { try upload($0, to: pointer) }
    }
}
