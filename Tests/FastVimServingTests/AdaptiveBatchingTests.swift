import FastVimServing
import Foundation
import Synchronization
import Testing
import TestSupport

/// The batcher waits for company only under load: a lone request on an idle worker runs at
/// once however long `maxQueueDelay` is, and requests that arrive while a pass runs form the
/// next batch.
@Suite struct AdaptiveBatchingTests {
    static func worker(delaySeconds: Double, started: Bool = true) throws -> ModelWorker {
        var settings = ModelWorker.Settings()
        settings.maxBatch = 8
        settings.maxQueueDelaySeconds = delaySeconds
        let worker = ModelWorker(bundle: try DefaultModelTests.bundle(), settings: settings)
        if started { worker.start() }
        return worker
    }

    /// Submits `count` jobs at once (then starts the worker, if `starting`) and waits for
    /// every answer.
    static func run(_ worker: ModelWorker, jobs count: Int, starting: Bool = false) throws -> [Result<InferenceOutput, InferenceFailure>] {
        let a = worker.bundle.model.architecture
        let (size, done) = (32, DispatchSemaphore(value: 0))
        let results = Mutex([Result<InferenceOutput, InferenceFailure>]())
        for i in 0 ..< count {
            let input = [Float](repeating: Float(i % 7) * 0.1, count: a.inChannels * size * size)
            try worker.submit(InferenceJob(images: 1, height: size, width: size, input: input, deadline: nil, isCancelled: { false }) { r in
                results.withLock { $0.append(r) }
                done.signal()
            })
        }
        if starting { worker.start() }
        for _ in 0 ..< count {
            guard done.wait(timeout: .now() + 60) == .success else { throw CancellationError() }
        }
        return results.withLock { $0 }
    }

    @Test func aLoneRequestDoesNotWaitForCompany() throws {
        // A minute of allowed delay: an idle worker must not spend it.
        let worker = try Self.worker(delaySeconds: 60)
        defer { worker.stop() }
        for _ in 0 ..< 3 {
            let results = try Self.run(worker, jobs: 1)
            let output = try results[0].get()
            #expect(output.batchSize == 1)
            #expect(output.queueNanoseconds < 30_000_000_000, "queued \(output.queueNanoseconds) ns on an idle worker")
        }
    }

    /// Queued before the worker starts, so that how fast this thread submits (a loaded box
    /// once let a pass start between two submissions, and the count of passes varied) does
    /// not matter: 8, 8, then the 5 left at once.
    @Test func requestsArrivingTogetherShareBatches() throws {
        let worker = try Self.worker(delaySeconds: 60, started: false)
        defer { worker.stop() }
        let outputs = try Self.run(worker, jobs: 21, starting: true).map { try $0.get() }
        #expect(outputs.count == 21)
        #expect(outputs.map(\.batchSize).sorted() == [Int](repeating: 5, count: 5) + [Int](repeating: 8, count: 16))
        // The partial last batch did not wait out the minute: nothing arrived during the pass
        // before it.
        #expect(outputs.allSatisfy { $0.queueNanoseconds < 30_000_000_000 })
        let executions = worker.statistics.withLock { $0.executions }
        #expect(executions == 3, "\(executions) passes for 21 requests")
    }
}
