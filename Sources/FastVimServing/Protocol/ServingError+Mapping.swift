import FastVimEngine
import FastVimImages

extension ServingError {
    /// Any error a route meets, as what the client is told.
    init(_ error: any Error) {
        switch error {
        case let e as ServingError: self = e
        case let e as ImageError:
            switch e {
            case .unsupportedFormat, .unsupportedVariant: self = .unsupportedMediaType(e.description)
            case .tooLarge: self = .tooLarge(e.description)
            case .corrupt, .truncated: self = .badRequest(e.description)
            case .outOfMemory: self = .budgetExhausted(e.description)
            case .invalidParameters: self = .internalError(e.description)
            }
        case let e as InferenceFailure:
            switch e {
            case let .queueFull(n): self = .queueFull(n)
            case .queuedInputFull: self = .budgetExhausted(e.description)
            case .expired: self = .deadlineExceeded
            case .cancelled: self = .cancelled
            case .shuttingDown: self = .shuttingDown
            case let .model(m): self = .backendFailure(m)
            case let .overBudget(m): self = .tooLarge(m)
            }
        case let e as BundleError: self = .badRequest(e.description)
        case let e as StrictJSON.SyntaxError: self = .badRequest(e.description)
        default: self = .internalError("\(error)")
        }
    }
}
