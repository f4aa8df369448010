/// Everything that can be wrong with a checkpoint file or the weights in it. Each message
/// names the file or key so a user can act on it without reading our source.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case notACheckpoint(path: String, reason: String)
    case corrupt(String)
    case truncated(String)
    case unsupportedOpcode(UInt8, offset: Int)
    case unsupportedDType(key: String, dtype: String)
    case noWeights(String)
    case missingKey(String)
    case unexpectedKeys([String])
    case shapeMismatch(key: String, expected: [Int], actual: [Int])
    case invalidConfig(String)
    /// The model is valid, but the backend it was loaded on cannot compute it (`ComputeBackend.supports`).
    case unsupportedByBackend(backend: String, String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "cannot read \(path): \(reason)"
        case let .notACheckpoint(path, reason):
            return "\(path) is not a checkpoint (expected a PyTorch zip file or safetensors): \(reason)"
        case let .corrupt(what): return "corrupt checkpoint: \(what)"
        case let .truncated(what): return "truncated checkpoint: \(what)"
        case let .unsupportedOpcode(op, offset):
            let hex = String(op, radix: 16, uppercase: true)
            return "unsupported pickle opcode 0x\(hex) at byte \(offset) of data.pkl (only what torch.save writes is accepted)"
        case let .unsupportedDType(key, dtype):
            return "tensor \(key) has dtype \(dtype); weights must be float32, float16 or bfloat16"
        case let .noWeights(what): return "no model weights found: \(what)"
        case let .missingKey(key): return "missing weight \(key)"
        case let .unexpectedKeys(keys):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "unexpected weights \(shown)\(keys.count > 8 ? " and \(keys.count - 8) more" : "")"
        case let .shapeMismatch(key, expected, actual):
            return "weight \(key) has shape \(actual), expected \(expected)"
        case let .invalidConfig(what): return "invalid model config: \(what)"
        case let .unsupportedByBackend(backend, reason): return "the \(backend) backend cannot run this model: \(reason)"
        }
    }
}
