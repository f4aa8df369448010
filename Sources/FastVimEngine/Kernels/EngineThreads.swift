import Foundation
import Synchronization

/// The engine's own worker threads, which a parallel loop shares with the thread that
/// starts it.
///
/// Not GCD: a server's other work (decoding uploads on an OperationQueue, writing answers)
/// runs on GCD's pool, which on Linux has one thread per core. When that work held those
/// threads, `concurrentPerform` found no thread to help and ran every task of a stage on the
/// calling thread, one after the other: with two tasks on two busy pool threads, 107 ms for
/// what took 32 ms on an idle pool (docs/BENCHMARKS.md). These threads only ever run the
/// engine's loops, and compete with the rest for the cores through the OS scheduler alone.
///
/// One loop at a time: a loop started while another is running (a second model's pass) runs
/// on its own thread, as a loop nested in a task does.
final class EngineThreads: @unchecked Sendable {
    /// Workers beside the calling thread.
    let workers: Int

    // The running loop. Written by its caller only while no worker can be reading it: before
    // `generation` announces it, and after `inFlight` has fallen back to zero. That rests on
    // a worker's increment of `inFlight` preceding its load of `open`, and the caller's store
    // of `open = false` preceding its load of `inFlight`, in one total order: all four stay
    // sequentially consistent.
    private var body: ((Int) -> Void)?
    private var count = 0
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    /// Whether the announced loop may still be joined.
    private let open = Atomic<Bool>(false)
    /// Workers inside the loop's fields.
    private let inFlight = Atomic<Int>(0)
    /// Bumped to announce a loop.
    private let generation = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// Parked workers wait here for a loop; a caller whose tasks outlast its spin waits for them.
    private let parking = NSCondition()
    private var parked = 0
    private let finished = NSCondition()

    /// How long an idle worker, or a caller waiting for the last tasks, polls before it sleeps:
    /// the stages of a pass follow each other within microseconds, and waking a sleeping
    /// thread costs about as much as a short stage.
    private static let spinNanoseconds: UInt64 = 50_000

    init(workers: Int) {
        self.workers = workers
        for w in 0 ..< workers {
            // The workers keep the pool alive until `stop()` (the engine's pool: for ever).
            let t = Thread { self.work() }
            t.name = "engine-\(w + 1)"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    /// Runs body(0 ..< count) on the calling thread and the workers; false (nothing run)
    /// when another loop holds the workers.
    func run(_ count: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escaping in
            self.body = escaping
            self.count = count
            next.store(0, ordering: .relaxed)
            done.store(0, ordering: .relaxed)
            open.store(true, ordering: .sequentiallyConsistent)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            parking.lock()
            if parked > 0 { parking.broadcast() }
            parking.unlock()

            runTasks()
            waitUntil { self.done.load(ordering: .acquiring) == count }
            // No worker may join now, and none may still be reading the fields below.
            open.store(false, ordering: .sequentiallyConsistent)
            waitUntil { self.inFlight.load(ordering: .sequentiallyConsistent) == 0 }
            self.body = nil
        }
        return true
    }

    /// Lets the workers end once idle (a pool made for a test).
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        parking.lock()
        parking.broadcast()
        parking.unlock()
    }

    /// Takes the loop's next tasks until none is left.
    private func runTasks() {
        let body = body!, count = count
        while case let i = next.wrappingAdd(1, ordering: .relaxed).oldValue, i < count {
            body(i)
            if done.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue == count { wakeCaller() }
        }
    }

    /// Wakes a caller sleeping in `waitUntil`: the change it waits for has been made.
    private func wakeCaller() {
        finished.lock()
        finished.broadcast()
        finished.unlock()
    }

    /// Polls `condition` for a while, then sleeps until a finishing task or a worker leaving
    /// the loop says to look again.
    private func waitUntil(_ condition: () -> Bool) {
        let start = DispatchTime.now().uptimeNanoseconds
        var polls = 0
        while !condition() {
            polls += 1
            if polls & 255 == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds {
                finished.lock()
                while !condition() { _ = finished.wait(until: Date(timeIntervalSinceNow: 0.001)) }
                finished.unlock()
                return
            }
        }
    }

    private func work() {
        Parallel.markInsideTask()
        var seen = 0
        while !stopping.load(ordering: .sequentiallyConsistent) {
            seen = waitForLoop(after: seen)
            inFlight.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if open.load(ordering: .sequentiallyConsistent) { runTasks() }
            if inFlight.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue == 0 { wakeCaller() }
        }
    }

    /// The generation of the next loop announced after `seen`.
    private func waitForLoop(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var polls = 0
        while true {
            let g = generation.load(ordering: .sequentiallyConsistent)
            if g != seen { return g }
            polls += 1
            if polls & 255 == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
        }
        parking.lock()
        defer { parking.unlock() }
        parked += 1
        defer { parked -= 1 }
        while generation.load(ordering: .sequentiallyConsistent) == seen { parking.wait() }
        return generation.load(ordering: .sequentiallyConsistent)
    }
}
