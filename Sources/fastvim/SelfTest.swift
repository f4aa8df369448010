import ArgumentParser
import FastVimCUDA
import FastVimEngine
import Foundation

struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Run every golden fixture on a device and compare with the reference logits.",
        discussion: """
        fp32 must agree within the fixtures' bound, 1e-4 · max(1, max |expected|), as on the CPU; \
        tf32 and bf16 report how far they drift (their accuracy cost) without failing. \
        On a GPU it then checks every stage of the device's forward pass against the CPU \
        engine's stage on the same inputs (d_state 16 to 256, odd grids, batch 1 and 7). \
        --compile-only compiles every CUDA kernel file with NVRTC and needs no GPU.
        """
    )

    @OptionGroup var device: DeviceOptions

    @Option(help: "Directory of the golden fixtures (default: FASTVIM_FIXTURES, else Tests/Fixtures of the checkout).")
    var fixtures: String?

    @Flag(name: .customLong("compile-only"), help: "Only compile the CUDA kernels with NVRTC, for --arch (no GPU needed).")
    var compileOnly = false

    @Option(help: "With --compile-only: GPU architectures, comma-separated (e.g. sm_80,sm_90).")
    var arch = "sm_80,sm_90"

    func run() throws {
        if compileOnly { return try compileKernels() }
        let backend = try device.backend()
        print("device: \(backend.summary)")
        let directory = fixtures ?? ProcessInfo.processInfo.environment["FASTVIM_FIXTURES"] ?? "Tests/Fixtures"
        let suite = try GoldenFixtures(directory: directory)
        var failures = 0
        for c in suite.cases {
            do {
                let o = try suite.run(c, on: backend, repeats: device.isCUDA ? 3 : 1)
                let verdict = o.passed ? "ok   " : device.precision == .fp32 ? "FAIL " : "drift"
                if !o.passed && device.precision == .fp32 { failures += 1 }
                let name = c.name.padding(toLength: max(26, c.name.count), withPad: " ", startingAt: 0)
                print(String(format: "%@ %@ max |diff| %.3g (bound %.3g), %.3f s", verdict, name, o.maxDifference, o.tolerance, o.seconds))
            } catch {
                failures += 1
                print("FAIL  \(c.name): \(error)")
            }
        }
        print(failures == 0 ? "all \(suite.cases.count) fixtures match" : "\(failures) of \(suite.cases.count) fixtures failed")
        if let kernels = backend as? KernelBackend, device.precision == .fp32 {
            failures += checkStages(on: kernels.device)
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Every device stage against the CPU engine's (fp32 only: the GEMMs of tf32 and bf16
    /// differ from the CPU's by design).
    private func checkStages(on kernelDevice: any KernelDevice) -> Int {
        var failures = 0
        for c in BackendOpsCheck.standardCases {
            do {
                let o = try BackendOpsCheck.run(c, on: kernelDevice)
                let worst = o.worst.map { String(format: "worst %@ #%d %@ %.3g", $0.stage.rawValue, $0.occurrence, "\($0.buffer)", $0.error) } ?? ""
                print("\(o.passed ? "ok   " : "FAIL ") stages of \(c): \(o.comparisons.count) buffers compared, \(worst)")
                if !o.passed {
                    failures += 1
                    for f in o.failures.prefix(5) { print("      \(f.stage.rawValue) #\(f.occurrence) \(f.buffer): \(f.error)") }
                }
            } catch {
                failures += 1
                print("FAIL  stages of \(c): \(error)")
            }
        }
        return failures
    }

    private func compileKernels() throws {
        guard device.isCUDA else { throw ValidationError("--compile-only compiles the CUDA kernels: use it with --device cuda") }
        let nvrtc = try NVRTC(directories: CUDALibraryPath.directories(explicit: device.cudaLibraryPath))
        print("NVRTC \(nvrtc.version.major).\(nvrtc.version.minor) from \(nvrtc.library.path)")
        // Through the PTX cache the server uses: a hit is PTX this NVRTC made from this source.
        let cache = KernelCache(directory: device.kernelCache)
        print("PTX cache: \(cache.directory ?? "none")")
        var failures = 0
        for architecture in arch.split(separator: ",").map(String.init) {
            for file in KernelFile.allCases {
                do {
                    let (ptx, cached) = try cache.ptx(for: file.program, architecture: architecture, nvrtc: nvrtc)
                    let names = file.kernels.map(\.name).joined(separator: ", ")
                    print("ok    \(architecture) \(file.fileName): \(names) (\(ptx.utf8.count) bytes of PTX, \(cached ? "cached" : "compiled"))")
                } catch {
                    failures += 1
                    print("FAIL  \(architecture) \(file.fileName): \(error)")
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
