#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One class of a ranked answer.
public struct ClassScore: Sendable, Codable, Equatable {
    public let index: Int
    public let label: String
    public let probability: Double

    /// The `{"index", "label", "probability"}` object of the API and CLI answers.
    public var json: [String: Any] { ["index": index, "label": label, "probability": probability] }
}

public enum Ranking {
    /// Softmax in double precision, max-subtracted so large logits cannot overflow.
    public static func softmax(_ logits: ArraySlice<Float>) -> [Double] {
        guard let top = logits.max() else { return [] }
        let exps = logits.map { exp(Double($0 - top)) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    /// The k most probable classes, ties broken by the lower index (as torch.topk does on CPU).
    public static func topK(_ logits: ArraySlice<Float>, k: Int, labels: [String]?) -> [ClassScore] {
        let p = softmax(logits)
        let order = p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
        return order.prefix(max(0, k)).map { i in
            ClassScore(index: i, label: labels.flatMap { i < $0.count ? $0[i] : nil } ?? String(i), probability: p[i])
        }
    }
}
