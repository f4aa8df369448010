import FastVimEngine
import Foundation
import Synchronization

/// What the OIP statistics extension reports for a model.
public struct WorkerStatistics: Sendable {
    public var executions = 0
    public var inferences = 0
    public var successes = 0
    public var failures = 0
    public var successNanoseconds: UInt64 = 0
    public var queueNanoseconds: UInt64 = 0
    public var computeNanoseconds: UInt64 = 0
    /// Requests that failed, and how long they had taken; by the reason metrics count them under.
    public var failureNanoseconds: UInt64 = 0
    public var failuresByReason: [String: Int] = [:]
    public var lastInferenceMilliseconds: UInt64 = 0
}

/// The dynamic batcher of one model: a bounded queue and a dedicated inference thread that
/// takes the oldest job's input shape, gathers up to `maxBatch` images of that shape, and
/// runs them in one forward pass over buffers allocated once per batch size.
///
/// Batching is adaptive: batches form from what queues while a pass runs. A worker that was
/// idle runs what is queued at once (a lone request never waits for company); only after a
/// pass during which requests arrived (the model is under load) may it wait for a partial
/// batch to fill, and then never past `maxQueueDelay` after its oldest request arrived. Two budgets bound its memory:
/// the input floats waiting in the queue, and the activation buffers it keeps (shapes are
/// evicted least recently used first, and an input whose pass alone would not fit is
/// refused before anything is allocated for it).
public final class ModelWorker: @unchecked Sendable {
    /// When a partial batch may wait for company: `adaptive` only under load (above), `fixed`
    /// always, up to `maxQueueDelay` (a lone request then waits it out).
    public enum Batching: String, Sendable, CaseIterable {
        case adaptive, fixed
    }

    public struct Settings: Sendable {
        public var maxBatch = 8
        /// The longest a request waits for company, counted from its arrival (see above).
        public var maxQueueDelaySeconds = 0.002
        public var batching = Batching.adaptive
        public var maxQueue = 256
        /// Activation buffers (every cached shape's together), in bytes.
        public var maxActivationBytes = 256 << 20
        /// Input tensors waiting in the queue, in bytes.
        public var maxQueuedInputBytes = 128 << 20
        public init() {}
    }

    public let bundle: ModelBundle
    public let settings: Settings
    private let condition = NSCondition()
    private var queue: [InferenceJob] = []
    private var queuedImages = 0
    private var queuedInputBytes = 0
    private var stopping = false
    /// A pass is running, and how many jobs arrived while the last one ran: the evidence of
    /// load that allows waiting for a batch to fill.
    private var passRunning = false
    private var arrivedDuringPass = 0
    /// Replaced by a newer load: runs what is queued (and what still arrives within the
    /// grace period), then stops, so a reload loses no request.
    private var retiringAt: UInt64?
    static let retireGraceNanoseconds: UInt64 = 5_000_000_000
    private var thread: Thread?
    /// Observers for metrics: (batch size, inference seconds), (queue depth).
    public var onBatch: (@Sendable (Int, Double) -> Void)?
    public var onQueueDepth: (@Sendable (Int) -> Void)?
    /// Bytes of activation buffers held for the shapes seen, after each change.
    public var onActivationMemory: (@Sendable (Int) -> Void)?
    public var onDropped: (@Sendable (InferenceFailure) -> Void)?
    /// Counters for the OIP statistics extension, updated by the worker thread.
    public let statistics = Mutex(WorkerStatistics())

    public init(bundle: ModelBundle, settings: Settings) {
        self.bundle = bundle
        self.settings = settings
    }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "inference-\(bundle.name)"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Finishes the queued jobs, takes late submissions for a grace period, then stops.
    public func retire() {
        condition.lock()
        retiringAt = Clock.now()
        condition.broadcast()
        condition.unlock()
    }

    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return queuedImages
    }

    /// Bytes of input tensors waiting in the queue.
    public var queuedBytes: Int {
        condition.lock()
        defer { condition.unlock() }
        return queuedInputBytes
    }

    /// Activation bytes of one pass over (images, height, width), worked out without allocating.
    public func activationBytes(images: Int, height: Int, width: Int) -> Int {
        // A CPU pass's tiles take scratch per thread as its backend tiles them; a device's need none.
        Workspace.byteCount(bundle.model.architecture, batch: images, height: height, width: width,
                            tiling: (bundle.backend as? CPUBackend)?.tiling)
    }

    /// Refuses, before anything is allocated for it, an input whose pass alone would exceed
    /// the activation budget.
    public func admit(images: Int, height: Int, width: Int) throws(InferenceFailure) {
        let need = activationBytes(images: images, height: height, width: width)
        guard need <= settings.maxActivationBytes else {
            throw .overBudget("a pass over \(images) image(s) of \(height)x\(width) needs \(need >> 20) MiB of activations; "
                + "this model's budget is \(settings.maxActivationBytes >> 20) MiB (--max-activation-bytes)")
        }
    }

    /// Queues a job, or refuses it at once when the queue (images or input bytes) is full.
    public func submit(_ job: InferenceJob) throws(InferenceFailure) {
        try admit(images: job.images, height: job.height, width: job.width)
        let bytes = job.input.count * MemoryLayout<Float>.size
        guard bytes <= settings.maxQueuedInputBytes else {
            throw .overBudget("the input tensor alone (\(bytes >> 20) MiB) exceeds this model's queue budget "
                + "(\(settings.maxQueuedInputBytes >> 20) MiB, --max-queued-input-bytes)")
        }
        condition.lock()
        guard !stopping else {
            condition.unlock()
            throw .shuttingDown
        }
        guard queuedImages + job.images <= settings.maxQueue else {
            condition.unlock()
            throw .queueFull(settings.maxQueue)
        }
        guard queuedInputBytes + bytes <= settings.maxQueuedInputBytes else {
            condition.unlock()
            throw .queuedInputFull(settings.maxQueuedInputBytes)
        }
        queue.append(job)
        if passRunning { arrivedDuringPass += 1 }
        queuedImages += job.images
        queuedInputBytes += bytes
        let depth = queuedImages
        condition.signal()
        condition.unlock()
        onQueueDepth?(depth)
    }

    /// A request to this model that failed (a refusal, a deadline, a backend error).
    public func countFailure(reason: String, nanoseconds: UInt64) {
        statistics.withLock { s in
            s.failures += 1
            s.failureNanoseconds += nanoseconds
            s.failuresByReason[reason, default: 0] += 1
        }
    }

    /// Wakes the worker so it drops cancelled jobs promptly.
    public func poke() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    private func run() {
        var passes: [String: (pass: any ForwardPass, lastUsed: UInt64)] = [:]
        let classes = bundle.model.architecture.numClasses
        let d = bundle.model.architecture.embedDim
        while true {
            guard let batch = nextBatch() else { return }
            let first = batch[0]
            let images = batch.reduce(0) { $0 + $1.images }
            let key = "\(images)x\(first.height)x\(first.width)"
            let start = Clock.now()
            do {
                let pass: any ForwardPass
                if let cached = passes[key] {
                    pass = cached.pass
                } else {
                    // Room for the new shape within the budget: least recently used shapes go first.
                    let need = activationBytes(images: images, height: first.height, width: first.width)
                    while let lru = passes.min(by: { $0.value.lastUsed < $1.value.lastUsed }),
                          passes.count >= 16 || passes.values.reduce(0, { $0 + $1.pass.activationBytes }) + need > settings.maxActivationBytes {
                        passes[lru.key] = nil
                    }
                    let make = { try self.bundle.backend.makePass(for: self.bundle.model, batch: images, height: first.height, width: first.width) }
                    do {
                        pass = try make()
                    } catch {
                        // A GPU out of memory: the other shapes' arenas go, and one more try.
                        passes.removeAll()
                        pass = try make()
                    }
                }
                passes[key] = (pass, Clock.now())
                onActivationMemory?(passes.values.reduce(0) { $0 + $1.pass.activationBytes })
                var input = [Float]()
                input.reserveCapacity(images * first.input.count / max(first.images, 1))
                for job in batch { input += job.input }
                let (logits, features) = try pass.run(input)
                // Before any answer goes out: a closed-loop client's next request must not
                // count as arriving during this pass.
                passFinished()
                let elapsed = Clock.now() - start
                onBatch?(images, Double(elapsed) / 1e9)
                statistics.withLock { s in
                    s.executions += 1
                    s.inferences += images
                    s.computeNanoseconds += elapsed
                    s.lastInferenceMilliseconds = UInt64(Date().timeIntervalSince1970 * 1000)
                    for job in batch {
                        s.successes += 1
                        s.queueNanoseconds += start - job.enqueuedAt
                        s.successNanoseconds += Clock.now() - job.enqueuedAt
                    }
                }
                var offset = 0
                for job in batch {
                    let n = job.images
                    let out = InferenceOutput(
                        logits: classes > 0 ? Array(logits[offset * classes ..< (offset + n) * classes]) : [],
                        features: Array(features[offset * d ..< (offset + n) * d]),
                        queueNanoseconds: start - job.enqueuedAt, inferenceNanoseconds: elapsed, batchSize: images)
                    offset += n
                    job.completion(.success(out))
                }
            } catch {
                passFinished()
                for job in batch { job.completion(.failure(.model("\(error)"))) }
            }
        }
    }

    private func passFinished() {
        condition.lock()
        passRunning = false
        condition.unlock()
    }

    /// Blocks until a batch is ready: the oldest live job's shape, up to maxBatch images.
    private func nextBatch() -> [InferenceJob]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            dropDead()
            if stopping {
                let left = queue
                queue.removeAll()
                queuedImages = 0
                queuedInputBytes = 0
                for job in left { job.completion(.failure(.shuttingDown)) }
                return nil
            }
            guard let oldest = queue.first else {
                if let retiringAt {
                    let end = retiringAt + Self.retireGraceNanoseconds
                    let now = Clock.now()
                    if now >= end {
                        stopping = true
                        return nil
                    }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(end - now) / 1e9))
                    continue
                }
                condition.wait()
                continue
            }
            let same = queue.filter { $0.height == oldest.height && $0.width == oldest.width }
            let available = same.reduce(0) { $0 + $1.images }
            let due = oldest.enqueuedAt + UInt64(settings.maxQueueDelaySeconds * 1e9)
            let now = Clock.now()
            let mayWait = settings.batching == .fixed || arrivedDuringPass > 0
            if available < settings.maxBatch && mayWait && now < due {
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(due - now) / 1e9))
                continue
            }
            var taken: [InferenceJob] = []
            var images = 0
            for job in same where taken.isEmpty || (images + job.images <= settings.maxBatch
                && activationBytes(images: images + job.images, height: oldest.height, width: oldest.width) <= settings.maxActivationBytes) {
                taken.append(job)
                images += job.images
            }
            let ids = Set(taken.map { ObjectIdentifier($0) })
            queue.removeAll { ids.contains(ObjectIdentifier($0)) }
            queuedImages -= images
            queuedInputBytes -= taken.reduce(0) { $0 + $1.input.count * MemoryLayout<Float>.size }
            onQueueDepth?(queuedImages)
            passRunning = true
            arrivedDuringPass = 0
            return taken
        }
    }

    /// Jobs whose client left or whose deadline passed never reach the model.
    private func dropDead() {
        let now = Clock.now()
        var kept: [InferenceJob] = []
        for job in queue {
            if let deadline = job.deadline, now > deadline {
                queuedImages -= job.images
                queuedInputBytes -= job.input.count * MemoryLayout<Float>.size
                onDropped?(.expired)
                job.completion(.failure(.expired))
            } else if job.isCancelled() {
                queuedImages -= job.images
                queuedInputBytes -= job.input.count * MemoryLayout<Float>.size
                onDropped?(.cancelled)
                job.completion(.failure(.cancelled))
            } else {
                kept.append(job)
            }
        }
        if kept.count != queue.count {
            queue = kept
            onQueueDepth?(queuedImages)
        }
    }
}
