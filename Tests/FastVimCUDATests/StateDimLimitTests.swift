import FastVimCUDA
import FastVimEngine
import FastVimServing
import Foundation
import Testing
import TestSupport

/// Mamba's larger state sizes on the device: up to 256 computed as on the CPU, beyond refused
/// when the model is loaded, never computed wrong; the CPU engine runs them all.
@Suite struct StateDimLimitTests {
    /// fastvim_small with every block's state widened from 16 to `n` (A_log columns and
    /// x_proj's B and C rows added), written as safetensors.
    static func widened(to n: Int) throws -> String {
        let c = try Checkpoint(path: Fixtures.path("fastvim_small.ckpt"))
        var tensors: [(String, [Int], [Float])] = []
        for key in c.tensors.keys.sorted() {
            let shape = c.tensors[key]!.shape
            var values = Array(try c.float32(key, shape: shape))
            var newShape = shape
            if key.hasSuffix("A_log") || key.hasSuffix("A_b_log") {
                let (e, old) = (shape[0], shape[1])
                values = (0 ..< e * n).map { values[($0 / n) * old + ($0 % n) % old] }
                newShape = [e, n]
            } else if key.contains("x_proj") && key.hasSuffix("weight") {
                let (rows, e) = (shape[0], shape[1])
                let old = 16, r = rows - 2 * old
                var out: [Float] = Array(values[0 ..< r * e])
                for part in 0 ..< 2 {
                    for row in 0 ..< n {
                        let source: Int = r + part * old + row % old
                        out += values[source * e ..< (source + 1) * e]
                    }
                }
                values = out
                newShape = [r + 2 * n, e]
            }
            tensors.append((key, newShape, values))
        }
        let path = temporaryPath("fastvim_small_n\(n).safetensors")
        write(TestSafeTensors.make(tensors), to: path)
        return path
    }

    /// d_state 128 runs on the device as on the CPU.
    @Test func stateSize128MatchesTheCPU() throws {
        let model = try VisionMamba(path: try Self.widened(to: 128))
        #expect(model.architecture.stateDim == 128)
        var random = SplitMix64(seed: 128)
        let input = random.floats(2 * 3 * 64 * 96)
        let cpu = try model.logits(input: input, batch: 2, height: 64, width: 96)
        let backend = KernelBackend(name: "emulated", device: try EmulatedDevice())
        let device = try backend.makePass(for: model, batch: 2, height: 64, width: 96).run(input).logits
        expectClose(device, cpu, tolerance: 1e-4, "d_state 128 logits, emulated device vs CPU")
    }

    /// d_state 512 is past what the scan kernels hold: loading the model for the device fails
    /// with the limit named, before any weight is uploaded; the CPU serves it.
    @Test func stateSize512IsRefusedAtLoad() throws {
        let path = try Self.widened(to: 512)
        let backend = KernelBackend(name: "cuda:0", device: try EmulatedDevice())
        #expect {
            _ = try ModelBundle(checkpoint: path, backend: backend)
        } throws: { error in
            let text = "\(error)"
            return text.contains("cuda:0 backend cannot run this model") && text.contains("d_state is 512")
                && text.contains("at most 256") && text.contains("--device cpu")
        }
        #expect(backend.weightBytes == 0)
        let bundle = try ModelBundle(checkpoint: path)
        #expect(bundle.model.architecture.stateDim == 512)
    }
}
