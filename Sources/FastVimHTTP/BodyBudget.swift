import Synchronization

/// The bytes of request bodies the server holds at once, across every connection: bodies
/// still arriving and bodies handed to the application until their answer goes out. One
/// client with many streams, or many clients at once, cannot make the server hold more.
public final class BodyBudget: Sendable {
    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    public var bytesHeld: Int { used.load(ordering: .relaxed) }

    /// Takes `n` bytes if they fit; false (and nothing taken) if they would pass the limit.
    func take(_ n: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard n <= limit - current else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + n, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func give(_ n: Int) { used.subtract(n, ordering: .relaxed) }
}

/// One request's share of the budget: grows with its body, given back exactly once (when
/// the request is answered, refused or abandoned; at the latest when it is freed).
final class BodyReservation: @unchecked Sendable {
    private let budget: BodyBudget
    private let bytes = Mutex(0)

    init(_ budget: BodyBudget) { self.budget = budget }

    /// False when the budget is exhausted: the request must be refused.
    func grow(_ n: Int) -> Bool {
        guard budget.take(n) else { return false }
        bytes.withLock { $0 += n }
        return true
    }

    func release() {
        let n = bytes.withLock { b -> Int in defer { b = 0 }; return b }
        if n > 0 { budget.give(n) }
    }

    deinit { release() }
}
