import Foundation
import Synchronization
import Testing
import TestSupport
@testable import FastVimEngine

/// The engine's worker threads: every task exactly once, and a loop's tasks on their own
/// threads even while GCD's pool is held by other work (a server's decode operations).
@Suite struct EngineThreadsTests {
    @Test func everyTaskRunsOnce() {
        let pool = EngineThreads(workers: 3)
        defer { pool.stop() }
        var random = SplitMix64(seed: 7)
        for round in 0 ..< 2_000 {
            let count = Int(random.next() % 40) + 1
            let hits = Mutex([Int](repeating: 0, count: count))
            let ran = pool.run(count) { i in hits.withLock { $0[i] += 1 } }
            #expect(ran)
            let counts = hits.withLock { $0 }
            let wrong = counts.indices.filter { counts[$0] != 1 }
            #expect(wrong.isEmpty, "round \(round), \(count) tasks: tasks \(wrong) did not run exactly once")
            if !wrong.isEmpty { return }
        }
    }

    /// Two threads starting loops at once (two models' passes): each loop runs on the pool or,
    /// refused, on its caller alone, and either way every task exactly once.
    @Test func concurrentCallersEachRunEveryTaskOnce() {
        let pool = EngineThreads(workers: 2)
        defer { pool.stop() }
        let wrong = Mutex(0), refused = Mutex(0)
        let group = DispatchGroup()
        for _ in 0 ..< 2 {
            group.enter()
            Thread.detachNewThread {
                for round in 0 ..< 500 {
                    let count = round % 17 + 2
                    let hits = Mutex([Int](repeating: 0, count: count))
                    let body = { (i: Int) in hits.withLock { $0[i] += 1 } }
                    if !pool.run(count, body) {
                        refused.withLock { $0 += 1 }
                        for i in 0 ..< count { body(i) }
                    }
                    if hits.withLock({ $0 }) != [Int](repeating: 1, count: count) { wrong.withLock { $0 += 1 } }
                }
                group.leave()
            }
        }
        let finished = group.wait(timeout: .now() + 120) == .success
        let wrongLoops = wrong.withLock { $0 }, refusedLoops = refused.withLock { $0 }
        #expect(finished)
        #expect(wrongLoops == 0, "\(wrongLoops) loops ran some task other than once")
        print("[engine threads] \(refusedLoops) of 1000 loops refused while the other caller held the pool")
    }

    /// Task 0 waits for task 1: on one thread that never ends (the test gives up after 10 s).
    /// GCD's `concurrentPerform` ran both on the calling thread when its pool was busy.
    @Test func tasksRunSideBySideWhileGCDIsBusy() {
        let pool = EngineThreads(workers: 1)
        defer { pool.stop() }
        // A server's decode pool, busy: an OperationQueue's operations on every GCD thread.
        let busy = OperationQueue()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        busy.maxConcurrentOperationCount = cores
        let release = Flag()
        for _ in 0 ..< cores {
            busy.addOperation {
                let start = DispatchTime.now().uptimeNanoseconds
                while !release.isSet && DispatchTime.now().uptimeNanoseconds - start < 20_000_000_000 {}
            }
        }
        defer {
            release.set()
            busy.waitUntilAllOperationsAreFinished()
        }
        usleep(20_000)  // the operations have started
        let second = Atomic<Bool>(false)
        let sawSecond = Atomic<Bool>(false)
        let ran = pool.run(2) { i in
            if i == 1 {
                second.store(true, ordering: .releasing)
                return
            }
            let start = DispatchTime.now().uptimeNanoseconds
            while !second.load(ordering: .acquiring) {
                if DispatchTime.now().uptimeNanoseconds - start > 10_000_000_000 { return }
                usleep(100)
            }
            sawSecond.store(true, ordering: .relaxed)
        }
        let sideBySide = sawSecond.load(ordering: .relaxed)
        #expect(ran)
        #expect(sideBySide, "task 1 did not start while task 0 ran")
    }

    @Test func aLoopStartedInsideALoopRunsOnItsOwnThread() {
        let pool = EngineThreads(workers: 1)
        defer { pool.stop() }
        let nestedRan = Atomic<Int>(0)
        _ = pool.run(2) { _ in
            if !pool.run(3, { _ in }) { nestedRan.wrappingAdd(1, ordering: .relaxed) }
        }
        let refused = nestedRan.load(ordering: .relaxed)
        #expect(refused == 2, "the pool must refuse a loop while it runs one")
    }
}

/// A flag an OperationQueue's closures can capture.
private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
