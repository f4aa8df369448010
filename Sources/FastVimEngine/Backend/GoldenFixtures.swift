import Foundation

/// The golden outputs of the reference implementations (`shared/fixtures`: expected_a/b/c
/// JSON, inputs_*.safetensors, checkpoints), run through any backend: how `fastvim
/// selftest` proves a device computes what the CPU engine and PyTorch compute.
public struct GoldenFixtures {
    public struct Case: Sendable {
        public let name: String
        public let checkpoint: String
        public let config: ModelConfig
        public let inputsFile: String
        public let input: String
        public let logits: [Float]
    }

    public struct Outcome: Sendable {
        public let name: String
        /// max |ours - expected| over the logits, and the bound it must stay within:
        /// 1e-4 · max(1, max |expected|), the fixtures' own criterion.
        public let maxDifference: Float
        public let tolerance: Float
        public let seconds: Double
        public var passed: Bool { maxDifference <= tolerance }
    }

    public let directory: String
    public let cases: [Case]

    /// Every logits fixture of the directory (the masked-encoder fixture `d` has no logits).
    public init(directory: String) throws {
        self.directory = directory
        var cases: [Case] = []
        for letter in ["a", "b", "c"] {
            let path = directory + "/expected_\(letter).json"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CheckpointError.io(path: path, reason: "cannot read it: point --fixtures (or FASTVIM_FIXTURES) at the golden fixtures")
            }
            guard let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else {
                throw CheckpointError.corrupt("\(path) is not a JSON object of fixtures")
            }
            for (name, v) in json.sorted(by: { $0.key < $1.key }) {
                guard let checkpoint = v["checkpoint"] as? String, let input = v["input"] as? String,
                      let logits = v["logits"] as? [[Double]] else {
                    throw CheckpointError.corrupt("\(path): fixture \(name) lacks checkpoint, input or logits")
                }
                // Only what the reference was configured with: collapse and scan order for the channel models.
                var keys: [String] = []
                if let c = v["collapse"] as? String { keys.append("\"collapse\": \"\(c)\"") }
                if let s = v["scan_order"] as? String { keys.append("\"scan_order\": \"\(s)\"") }
                let config = try ModelConfig(json: Data("{\(keys.joined(separator: ", "))}".utf8))
                cases.append(Case(name: name, checkpoint: checkpoint, config: config, inputsFile: "inputs_\(letter).safetensors",
                                  input: input, logits: logits.flatMap { $0.map(Float.init) }))
            }
        }
        self.cases = cases
    }

    /// Runs one fixture on `backend`, `repeats` times through the same pass (a GPU pass
    /// launches directly, then captures a graph, then replays it): the worst run counts.
    public func run(_ c: Case, on backend: any ComputeBackend, repeats: Int = 1) throws -> Outcome {
        let model = try VisionMamba(checkpoint: try Checkpoint(path: directory + "/" + c.checkpoint), config: c.config)
        let inputs = try SafeTensorsFile(path: directory + "/" + c.inputsFile)
        guard let shape = inputs.shape(c.input), shape.count == 4 else {
            throw CheckpointError.corrupt("\(c.inputsFile) has no (B, C, H, W) tensor \(c.input)")
        }
        let values = try inputs.floats(c.input)
        let start = Date()
        let pass = try backend.makePass(for: model, batch: shape[0], height: shape[2], width: shape[3])
        var worst: Float = 0
        for _ in 0 ..< max(1, repeats) {
            var logits = [Float](repeating: .nan, count: shape[0] * model.architecture.numClasses)
            try values.withUnsafeBufferPointer { inp in
                try logits.withUnsafeMutableBufferPointer { try pass.run(input: inp.baseAddress!, logits: $0.baseAddress!, features: nil) }
            }
            guard logits.count == c.logits.count else {
                throw CheckpointError.corrupt("\(c.name): \(logits.count) logits, the fixture has \(c.logits.count)")
            }
            for (x, y) in zip(logits, c.logits) {
                let d = abs(x - y)
                if d > worst || d.isNaN { worst = d.isNaN ? .infinity : d }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let scale = max(1, c.logits.reduce(0) { max($0, abs($1)) })
        return Outcome(name: c.name, maxDifference: worst, tolerance: 1e-4 * scale, seconds: seconds)
    }
}
