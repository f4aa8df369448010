import Foundation

/// The golden outputs of the reference implementations (`Tests/Fixtures`: expected_a/b/c/d
/// JSON, inputs_*.safetensors, checkpoints), run through any backend: how `fastvim
/// selftest` proves a device computes what the CPU engine and PyTorch compute.
public struct GoldenFixtures {
    public struct Case: Sendable {
        public let name: String
        public let checkpoint: String
        public let config: ModelConfig
        public let inputsFile: String
        public let input: String
        /// Logits (a, b, c), or the masked encoder's latent (d).
        public let expected: [Float]
        /// The masked encoder's kept-token ids, for fixture d.
        public let idsKeep: [Int]?
    }

    public struct Outcome: Sendable {
        public let name: String
        /// max |ours - expected|, and the bound it must stay within: 1e-4 · max(1, max
        /// |expected|), the fixtures' own criterion.
        public let maxDifference: Float
        public let tolerance: Float
        public let seconds: Double
        public var passed: Bool { maxDifference <= tolerance }
    }

    public let directory: String
    public let cases: [Case]

    static let whereFixturesLive = "missing or unreadable: the golden fixtures are in the repository under Tests/Fixtures "
        + "(see its README); point --fixtures (or FASTVIM_FIXTURES) at them"

    /// Every fixture of the directory: the logits of a, b and c, and d's masked latent.
    public init(directory: String) throws {
        self.directory = directory
        var cases: [Case] = []
        for letter in ["a", "b", "c", "d"] {
            let path = directory + "/expected_\(letter).json"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CheckpointError.io(path: path, reason: Self.whereFixturesLive)
            }
            guard let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else {
                throw CheckpointError.corrupt("\(path) is not a JSON object of fixtures")
            }
            let inputsFile = "inputs_\(letter).safetensors"
            for (name, v) in json.sorted(by: { $0.key < $1.key }) {
                guard let checkpoint = v["checkpoint"] as? String, let input = v["input"] as? String else {
                    throw CheckpointError.corrupt("\(path): fixture \(name) lacks checkpoint or input")
                }
                // Only what the reference was configured with: collapse and scan order for the channel models.
                var keys: [String] = []
                if let c = v["collapse"] as? String { keys.append("\"collapse\": \"\(c)\"") }
                if let s = v["scan_order"] as? String { keys.append("\"scan_order\": \"\(s)\"") }
                let config = try ModelConfig(json: Data("{\(keys.joined(separator: ", "))}".utf8))
                let expected: [Float], ids: [Int]?
                if let logits = v["logits"] as? [[Double]] {
                    (expected, ids) = (logits.flatMap { $0.map(Float.init) }, nil)
                } else if let idsName = v["ids_keep"] as? String, let latent = v["expected"] as? String {
                    let tensors = try SafeTensorsFile(path: directory + "/" + inputsFile)
                    (expected, ids) = (try tensors.floats(latent), try tensors.integers(idsName))
                } else {
                    throw CheckpointError.corrupt("\(path): fixture \(name) has neither logits nor ids_keep and an expected latent")
                }
                cases.append(Case(name: name, checkpoint: checkpoint, config: config, inputsFile: inputsFile, input: input,
                                  expected: expected, idsKeep: ids))
            }
        }
        self.cases = cases
    }

    /// Runs one fixture on `backend`, `repeats` times through the same pass (a GPU pass
    /// launches directly, then captures a graph, then replays it): the worst run counts.
    public func run(_ c: Case, on backend: any ComputeBackend, repeats: Int = 1) throws -> Outcome {
        for file in [c.checkpoint, c.inputsFile] where !FileManager.default.isReadableFile(atPath: directory + "/" + file) {
            throw CheckpointError.io(path: directory + "/" + file, reason: Self.whereFixturesLive)
        }
        let model = try VisionMamba(checkpoint: try Checkpoint(path: directory + "/" + c.checkpoint), config: c.config)
        let inputs = try SafeTensorsFile(path: directory + "/" + c.inputsFile)
        guard let shape = inputs.shape(c.input), shape.count == 4 else {
            throw CheckpointError.corrupt("\(c.inputsFile) has no (B, C, H, W) tensor \(c.input)")
        }
        let values = try inputs.floats(c.input)
        let start = Date()
        var worst: Float = 0
        func compare(_ ours: [Float]) throws {
            guard ours.count == c.expected.count else {
                throw CheckpointError.corrupt("\(c.name): \(ours.count) values, the fixture has \(c.expected.count)")
            }
            for (x, y) in zip(ours, c.expected) {
                let d = abs(x - y)
                if d > worst || d.isNaN { worst = d.isNaN ? .infinity : d }
            }
        }
        if let ids = c.idsKeep {
            for _ in 0 ..< max(1, repeats) {
                try compare(try backend.encodeMasked(model, input: values, batch: shape[0], height: shape[2], width: shape[3], idsKeep: ids))
            }
        } else {
            let pass = try backend.makePass(for: model, batch: shape[0], height: shape[2], width: shape[3])
            for _ in 0 ..< max(1, repeats) { try compare(try pass.run(values).logits) }
        }
        let seconds = Date().timeIntervalSince(start)
        let scale = max(1, c.expected.reduce(0) { max($0, abs($1)) })
        return Outcome(name: c.name, maxDifference: worst, tolerance: 1e-4 * scale, seconds: seconds)
    }
}
