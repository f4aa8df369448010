import FastVimEngine
import FastVimHTTP
import FastVimImages
import Foundation
import Logging
import Synchronization

/// The application behind the HTTP server: routes, the decode pool, the batchers, metrics.
/// Runs its `handle` on the event loop thread and never blocks there: decoding goes to the
/// decode pool, inference to each model's worker thread.
public final class ServingApp: HTTPHandler, @unchecked Sendable {
    public struct Options: Sendable {
        public var defaultTopK = 5
        /// Applied when a request names no deadline; nil for none.
        public var defaultTimeoutMilliseconds: Int? = 30_000
        public var decodeWorkers = ProcessInfo.processInfo.activeProcessorCount
        /// GET /v1/benchmark answers only when enabled.
        public var benchmarkEnabled = false
        public var benchmarkMaxSeconds = 300.0
        /// Bearer tokens and their scopes; nil: every route is open.
        public var accessControl: AccessControl?
        public init() {}
    }

    let store: ModelStore
    /// The highest version of every served model; the first is the default of /v1.
    public var models: [ServedModel] { store.current }
    /// Set when models come from a repository (load, unload, reload, the index).
    public var repository: ModelRepository? {
        didSet { repository?.app = self }
    }
    public let options: Options
    public let metrics: ServerMetrics
    let logger: Logger
    let decodePool: OperationQueue
    let benchmarkRunning = Atomic<Bool>(false)
    /// Set once the server exists; readiness and connection gauges read it.
    public weak var server: HTTPServer?

    public init(models: [ServedModel], options: Options = Options(), metrics: ServerMetrics = ServerMetrics(), logger: Logger) {
        store = ModelStore(models)
        self.options = options
        self.metrics = metrics
        self.logger = logger
        decodePool = OperationQueue()
        decodePool.name = "decode"
        decodePool.maxConcurrentOperationCount = max(1, options.decodeWorkers)
        metrics.buildInfo(version: Self.serverVersion, device: models.first?.bundle.backend.name ?? "cpu")
        for m in models { start(m) }
    }

    private func start(_ m: ServedModel) {
        let name = m.name, metrics = metrics
        m.worker.onBatch = { size, seconds in metrics.batch(size: size, seconds: seconds, model: name) }
        m.worker.onQueueDepth = { depth in metrics.queueDepth(depth, model: name) }
        m.worker.onActivationMemory = { bytes in metrics.activationMemory(bytes, model: name) }
        metrics.activationMemory(0, model: name)
        // Deadlines are counted where the 504 is sent (the timer); here only vanished clients.
        m.worker.onDropped = { failure in
            if case .cancelled = failure { metrics.rejected(reason: "cancelled", model: name) }
        }
        m.worker.start()
    }

    /// Serves a newly loaded model; the one it replaces finishes its queue, then stops.
    func install(_ m: ServedModel) {
        start(m)
        store.install(m)?.worker.retire()
    }

    public func stop() {
        for m in models { m.worker.stop() }
    }

    var accessControl: AccessControl? { options.accessControl }

    func model(named name: String) -> ServedModel? { store.model(named: name) }
    /// The first served model: the one /v1/classify and /invocations use.
    var defaultModel: ServedModel? { models.first }

    /// The default model, or a 503 that says none is loaded.
    func withDefaultModel(_ r: Reply, _ body: (ServedModel) -> Void) {
        guard let m = defaultModel else { return r.fail(.modelUnavailable("no model is loaded")) }
        body(m)
    }

    public var isReady: Bool { !(server?.isDraining ?? false) }

    /// Counts the answers the HTTP layer gives by itself (413 body limit, 431, 408, 400,
    /// the in-flight 503) under the route they were meant for.
    public func observeRefusals(of server: HTTPServer) {
        let metrics = metrics
        let routes = self
        server.refusalObserver = { refusal, path in
            let labels = routes.metricLabels(path)
            metrics.request(route: labels.route, code: refusal.status, seconds: 0)
            metrics.rejected(reason: refusal.reason, model: labels.model)
        }
    }

    /// A path's metric labels, from one parse: its route's pattern (or "unknown") and the
    /// model it names (or the default model).
    func metricLabels(_ path: String) -> (route: String, model: String) {
        let parts = (try? RequestTarget(parsing: path))?.segments ?? path.split(separator: "/").map(String.init)
        let matched = Self.route(for: parts)
        var model = defaultModel?.name ?? ""
        if let p = matched?.1, let name = p["model"] ?? p["name"],
           let m = oipModel(named: name) ?? self.model(named: name).map({ OIPModel(served: $0, takesImages: false) }) {
            model = m.served.name
        }
        return (matched?.0.pattern ?? "unknown", model)
    }

    // MARK: - Routing

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let matched = Self.route(for: request.segments)
        let label = matched?.0.pattern ?? "unknown"
        // A client that leaves before its answer is counted as 499, nginx's convention.
        let metrics = metrics, started = request.receivedAt
        responder.onCancel { metrics.request(route: label, code: 499, seconds: Double(Clock.now() - started) / 1e9) }
        let r = Reply(responder: responder, route: label, startedAt: request.receivedAt, metrics: metrics,
                      encoding: ContentCoding.accepted(request.header("accept-encoding")))
        guard let (route, parameters) = matched else { return r.fail(.notFound("no route for \(request.path)")) }
        let allowed = route.allowed
        if request.method == "OPTIONS" {
            return r.send(HTTPResponse(status: 204, headers: [("allow", allowed.joined(separator: ", "))]))
        }
        guard allowed.contains(request.method) else {
            return r.fail(.methodNotAllowed("\(request.method) is not allowed on \(request.path)", allow: allowed))
        }
        if let access = accessControl {
            let needed = route.scope ?? (access.protectHealth ? .metadata : nil)
            if let needed {
                switch access.decide(authorization: request.header("authorization"), scope: needed) {
                case .allowed: break
                case .unauthenticated: return refuseAccess(r, .unauthenticated, path: request.path)
                case .forbidden: return refuseAccess(r, .forbidden(needed), path: request.path)
                }
            }
        }
        route.handler(self, request, parameters, r)
    }

    private func refuseAccess(_ r: Reply, _ error: ServingError, path: String) {
        metrics.rejected(reason: error.reason, model: metricLabels(path).model)
        r.fail(error)
    }

    func readiness(_ r: Reply) {
        isReady ? r.json(200, ["ready": true]) : r.fail(.shuttingDown)
    }

    func serveMetrics(_ r: Reply) {
        if let server {
            metrics.inflight(server.inflightRequests)
            metrics.connections(server.connectionsByProtocol)
            metrics.budgets(bodyBytes: server.bodyBudget.bytesHeld, unsentBytes: server.unsentResponseBytes)
        }
        for m in models {
            metrics.queueDepth(m.worker.depth, model: m.name)
            metrics.queuedInput(m.worker.queuedBytes, model: m.name)
        }
        r.send(HTTPResponse(status: 200, headers: [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                            body: metrics.exposition()))
    }

    // MARK: - Deadlines

    /// The request's deadline: `?timeout_ms=`, else the `request-timeout-ms` header, else the default.
    func deadline(for request: HTTPRequest) throws(ServingError) -> UInt64? {
        let raw = request.queryValue("timeout_ms") ?? request.header("request-timeout-ms")
        var ms = options.defaultTimeoutMilliseconds
        if let raw {
            guard raw.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let v = Int(raw), v > 0, v <= 3_600_000 else {
                throw .badRequest("timeout_ms must be an integer from 1 to 3600000")
            }
            ms = v
        }
        guard let ms else { return nil }
        return request.receivedAt + UInt64(ms) * 1_000_000
    }

    /// Answers 504 when the deadline passes first; the worker then drops the job unrun.
    func armDeadline(_ deadline: UInt64?, _ r: Reply, model: ServedModel) {
        guard let deadline else { return }
        let now = Clock.now()
        let wait = deadline > now ? deadline - now : 0
        let metrics = metrics
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(min(wait, UInt64(Int.max))))) {
            guard !r.isFinished else { return }
            metrics.rejected(reason: ServingError.deadlineExceeded.reason, model: model.name)
            model.worker.countFailure(reason: ServingError.deadlineExceeded.reason, nanoseconds: Clock.now() - r.startedAt)
            r.fail(.deadlineExceeded)
            model.worker.poke()
        }
    }

    /// Any failure of a request to a model: counted under its reason, answered with its status.
    /// Deadlines are counted where the 504 is sent (the timer) and vanished clients where
    /// the batcher drops their jobs, so neither is counted twice.
    func reject(_ r: Reply, model: ServedModel, _ error: any Error) {
        let failure = ServingError(error)
        switch failure {
        case .cancelled, .deadlineExceeded: break
        default:
            metrics.rejected(reason: failure.reason, model: model.name)
            model.worker.countFailure(reason: failure.reason, nanoseconds: Clock.now() - r.startedAt)
        }
        r.fail(failure)
    }

    /// Submits a job, answering 503 with Retry-After at once when the queue is full.
    func submit(_ job: InferenceJob, to model: ServedModel, _ r: Reply) {
        do {
            try model.worker.submit(job)
        } catch {
            reject(r, model: model, error)
        }
    }
}
