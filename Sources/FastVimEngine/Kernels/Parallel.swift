import Foundation
import Synchronization
import COpenBLAS

/// The engine's own threads. A forward pass splits its work (whole images, or each stage,
/// GEMMs included) over `Parallel.width` tasks, run by the calling thread and the engine's
/// worker threads (`EngineThreads`), and the sgemm (oneDNN or OpenBLAS) runs single-threaded
/// inside each task: one pool for all the work, so no library's idle workers spin against ours.
public enum Parallel {
    nonisolated(unsafe) private static var configured = ProcessInfo.processInfo.activeProcessorCount
    private static let blasSingleThreaded: Void = { openblas_set_num_threads(1) }()
    private static let pool = Mutex<EngineThreads?>(nil)

    /// How many tasks each stage is split into (default: the active cores).
    public static var width: Int { configured }

    /// Call before running models; not thread-safe against concurrent forward passes.
    public static func setWidth(_ n: Int) { configured = max(1, n) }

    /// The worker threads for the configured width, started on first use.
    private static var threads: EngineThreads {
        pool.withLock { pool in
            if let p = pool, p.workers == configured - 1 { return p }
            pool?.stop()  // a width changed between passes: the old workers end
            let p = EngineThreads(workers: configured - 1)
            pool = p
            return p
        }
    }

    /// Runs body(0 ..< count) over the threads. A task of a parallel loop runs the loops
    /// nested in it on its own thread, in order: when the batch is cut into images, each
    /// task runs a whole image, and the stages inside must not split again.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        _ = blasSingleThreaded
        if count <= 1 || runsInline {
            for i in 0 ..< count { body(i) }
            return
        }
        // The calling thread runs tasks too: marked as inside one while it does.
        let ranOnPool = threads.run(count) { i in
            let outer = pthread_getspecific(nestedKey)
            pthread_setspecific(nestedKey, UnsafeRawPointer(bitPattern: 1))
            body(i)
            pthread_setspecific(nestedKey, outer)
        }
        if !ranOnPool {
            // Another loop (a second model's pass) holds the workers.
            pthread_setspecific(nestedKey, UnsafeRawPointer(bitPattern: 1))
            for i in 0 ..< count { body(i) }
            pthread_setspecific(nestedKey, nil)
        }
    }

    /// For the engine's worker threads, which only ever run tasks.
    static func markInsideTask() {
        pthread_setspecific(nestedKey, UnsafeRawPointer(bitPattern: 1))
    }

    /// Whether a parallel loop started here runs on this thread alone: one thread
    /// configured, or inside a task of another loop.
    static var runsInline: Bool { configured <= 1 || pthread_getspecific(nestedKey) != nil }

    /// Set (non-nil) on a thread while it runs a task of `forEach`.
    private static let nestedKey: pthread_key_t = {
        var key = pthread_key_t()
        // Not inside the precondition: -Ounchecked drops the condition, call and all, and the
        // key stayed 0, which is libdispatch's own (its per-thread state, freed at thread exit).
        let status = pthread_key_create(&key, nil)
        precondition(status == 0, "pthread_key_create failed")
        return key
    }()

    /// Runs body(i) for every i in 0..<count on at most `width` tasks, each taking the next
    /// item as it frees up: a thread slowed by other work takes fewer. (Handing
    /// `concurrentPerform` the count itself would spread it over every CPU of the machine,
    /// past `--threads`.)
    static func handOut(_ count: Int, _ body: (Int) -> Void) {
        let tasks = runsInline ? 1 : min(configured, count)
        guard tasks > 1 else { for i in 0 ..< count { body(i) }; return }
        let next = Atomic<Int>(0)
        forEach(tasks) { _ in
            while case let i = next.wrappingAdd(1, ordering: .relaxed).oldValue, i < count { body(i) }
        }
    }

    /// Splits 0..<count into about `width` ranges of at least `grain` items each.
    static func ranges(_ count: Int, grain: Int = 1, multipleOf step: Int = 1, _ body: (Range<Int>) -> Void) {
        let tasks = max(1, min(configured, count / max(grain, 1)))
        var size = (count + tasks - 1) / tasks
        size = (size + step - 1) / step * step
        let n = (count + size - 1) / max(size, 1)
        forEach(n) { i in
            let lo = i * size, hi = min(count, lo + size)
            if lo < hi { body(lo ..< hi) }
        }
    }

    /// Splits (batch items × channels) into tasks: whole items when the batch alone keeps
    /// every thread busy, else channel slices (multiples of `vectorLanes`, for the SIMD loops
    /// and the scan's layout).
    static func batchChannels(batch: Int, channels: Int, _ body: (Int, Range<Int>) -> Void) {
        let slices = max(1, min((configured + batch - 1) / batch, channels / vectorLanes))
        var size = (channels + slices - 1) / slices
        size = (size + vectorLanes - 1) / vectorLanes * vectorLanes
        let perItem = (channels + size - 1) / size
        forEach(batch * perItem) { task in
            let b = task / perItem, lo = (task % perItem) * size
            body(b, lo ..< min(channels, lo + size))
        }
    }
}

/// A piece of a token-major (batch, sequence, channels) pass: one image and a run of its
/// tokens, every channel.
struct TokenTile {
    let image: Int
    let tokens: Range<Int>
}

extension Parallel {
    /// Splits (batch × sequence) for passes that walk tokens: whole images when
    /// the batch keeps every thread busy, else runs of tokens (multiples of `span`, so a
    /// pooled group never straddles two tasks) over all channels. Token runs read memory
    /// row after row; channel slices would stride across rows (3 KB apart in x of in_proj's
    /// output), which measured twice as slow on long sequences.
    static func tokenTiles(batch: Int, sequence: Int, span: Int, _ body: (TokenTile) -> Void) {
        let spans = max(1, sequence / max(span, 1))
        let parts = batch >= width ? 1 : min(spans, (width + batch - 1) / batch)
        let perPart = (spans + parts - 1) / parts * span
        forEach(batch * parts) { task in
            let image = task / parts, lo = (task % parts) * perPart
            let hi = task % parts == parts - 1 ? sequence : min(sequence, lo + perPart)
            if lo < hi { body(TokenTile(image: image, tokens: lo ..< hi)) }
        }
    }
}

