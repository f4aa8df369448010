import FastVimCUDA
import FastVimEngine
import Foundation
import Testing
import TestSupport

/// A `d_state` the scan kernels cannot hold is refused when the model reaches the device,
/// never computed wrong; the CPU engine still runs it.
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

    @Test func largeStatesAreRefusedOnTheDevice() throws {
        let model = try VisionMamba(path: try Self.widened(to: 128))
        #expect(model.architecture.stateDim == 128)
        let input = [Float](repeating: 0.1, count: 3 * 64 * 96)
        let cpu = try model.logits(input: input, batch: 1, height: 64, width: 96)
        #expect(cpu.allSatisfy { $0.isFinite })
        let device = try EmulatedDevice()
        let backend = KernelBackend(name: "emulated", device: device)
        do {
            _ = try backend.makePass(for: model, batch: 1, height: 64, width: 96)
            Issue.record("a d_state 128 model was accepted on the device")
        } catch {
            let text = "\(error)"
            #expect(text.contains("d_state up to 64") && text.contains("d_state 128"), "\(text)")
        }
    }
}
