import Foundation

/// What a batch produced for one job.
public struct InferenceOutput: Sendable {
    /// (images, classes), flattened; empty for models without a head.
    public var logits: [Float]
    /// (images, D) pooled features, flattened.
    public var features: [Float]
    public var queueNanoseconds: UInt64
    public var inferenceNanoseconds: UInt64
    public var batchSize: Int
}

public enum InferenceFailure: Error, Sendable, CustomStringConvertible {
    case queueFull(Int)
    /// The input tensors already waiting fill `maxQueuedInputBytes`.
    case queuedInputFull(Int)
    case expired
    case cancelled
    case shuttingDown
    case model(String)
    /// One pass for the request alone would need more activation memory than the model's budget.
    case overBudget(String)

    public var description: String {
        switch self {
        case let .queueFull(n): "inference queue full (\(n) waiting); retry shortly"
        case let .queuedInputFull(n): "input tensors waiting for this model fill its budget (\(n) bytes, --max-queued-input-bytes); retry shortly"
        case .expired: "deadline exceeded before inference"
        case .cancelled: "client went away"
        case .shuttingDown: "server is shutting down"
        case let .model(m): m
        case let .overBudget(m): m
        }
    }
}

/// One request's images, already preprocessed, waiting for a batch.
public final class InferenceJob: @unchecked Sendable {
    public let images: Int
    public let height: Int
    public let width: Int
    /// (images, C, height, width)
    public let input: [Float]
    public let enqueuedAt: UInt64
    /// Monotonic nanoseconds after which the job is answered 504 instead of computed.
    public let deadline: UInt64?
    let isCancelled: @Sendable () -> Bool
    let completion: @Sendable (Result<InferenceOutput, InferenceFailure>) -> Void

    public init(images: Int, height: Int, width: Int, input: [Float], deadline: UInt64?,
                isCancelled: @escaping @Sendable () -> Bool,
                completion: @escaping @Sendable (Result<InferenceOutput, InferenceFailure>) -> Void) {
        self.images = images
        self.height = height
        self.width = width
        self.input = input
        self.enqueuedAt = Clock.now()
        self.deadline = deadline
        self.isCancelled = isCancelled
        self.completion = completion
    }
}

/// Monotonic nanoseconds.
public enum Clock {
    public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
