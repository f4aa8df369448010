import ArgumentParser
import Dispatch
import FastVimEngine
import FastVimHTTP
import FastVimServing
import Foundation
import Logging

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over HTTP/1.1 and HTTP/2 (h2c, and h2 over TLS) on one port."
    )

    @Option(help: "Checkpoint of the default model (default: the bundled model). Its config: --config or <checkpoint>.json.")
    var checkpoint: String?

    @Option(help: "Config of the --checkpoint model.")
    var config: String?

    @Option(name: .customLong("model"), help: "Serve another model: NAME=PATH[,config=FILE] (repeatable). The first served model is the default.")
    var extraModels: [String] = []

    @Option(name: .customLong("model-repository"), help: "Serve the models of a repository: DIR/<model>/<version>/<checkpoint>, optional DIR/<model>/config.json (model config, version_policy, sha256). SIGHUP re-reads it.")
    var modelRepository: String?

    @Option(name: .customLong("model-control-mode"), help: "none (load everything at start), explicit (--load-model, then the load/unload API) or poll (re-read the repository every --repository-poll-seconds).")
    var modelControlMode = "none"

    @Option(name: .customLong("load-model"), help: "With --model-control-mode explicit: a repository model to load at start (repeatable).")
    var loadModels: [String] = []

    @Option(name: .customLong("repository-poll-seconds"), help: "With --model-control-mode poll: seconds between repository scans.")
    var repositoryPollSeconds = 15.0

    @Option(help: "Which weights of the checkpoints: auto, ema or raw.")
    var weights: WeightsChoice = .auto

    @Option(help: "Address to listen on (IPv4 or IPv6; 0.0.0.0 or :: for every interface).")
    var host = ProcessInfo.processInfo.environment["FASTVIM_HOST"] ?? "127.0.0.1"

    @Option(help: "Port (0 picks a free one).")
    var port = Int(ProcessInfo.processInfo.environment["FASTVIM_PORT"] ?? "") ?? 8080

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: enables TLS (h2 and http/1.1 by ALPN) beside plaintext.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("tls-client-ca"), help: "Mutual TLS: require client certificates signed by this PEM CA bundle (plaintext is then refused).")
    var tlsClientCA: String?

    @Option(name: .customLong("auth-token-file"), help: "Bearer tokens, one a line: <token> <scope>[,<scope>...] with scopes inference, metadata, admin (default: $FASTVIM_AUTH_TOKEN_FILE; none: every route is open). Re-read on SIGHUP.")
    var authTokenFile: String?

    @Flag(name: .customLong("protect-health"), help: "With --auth-token-file: health and readiness need a token (metadata scope) too.")
    var protectHealth = false

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (413 beyond).")
    var maxBodyBytes = 16 << 20

    @Option(name: .customLong("max-connections"), help: "Open connections at most.")
    var maxConnections = 4096

    @Option(name: .customLong("max-concurrent-streams"), help: "HTTP/2 streams in flight per connection.")
    var maxConcurrentStreams = 100

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle connection stays open.")
    var idleTimeout = 60.0

    @Option(name: .customLong("header-timeout"), help: "Seconds to receive a request's headers (slowloris).")
    var headerTimeout = 10.0

    @Option(name: .customLong("body-timeout"), help: "Longest pause, in seconds, while a request body arrives.")
    var bodyTimeout = 30.0

    @Option(name: .customLong("receive-timeout"), help: "Seconds from a request's first byte to its last, however steadily it trickles (408 beyond).")
    var receiveTimeout = 60.0

    @Option(name: .customLong("send-timeout"), help: "Seconds a connection may hold unsent answers while its client reads nothing (then it is closed).")
    var sendTimeout = 30.0

    @Option(name: .customLong("max-buffered-body-bytes"), help: "Request bodies held at once across all connections (503 beyond).")
    var maxBufferedBodyBytes = 128 << 20

    @Option(name: .customLong("max-response-queue-bytes"), help: "Unsent answer bytes per connection before its further requests wait for the client to read.")
    var maxResponseQueueBytes = 4 << 20

    @Option(name: .customLong("max-activation-bytes"), help: "Activation memory per model, every cached input shape together; a larger single pass is refused with 413.")
    var maxActivationBytes = 256 << 20

    @Option(name: .customLong("max-queued-input-bytes"), help: "Input tensors waiting per model (503 with Retry-After beyond).")
    var maxQueuedInputBytes = 128 << 20

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds to drain on SIGTERM/SIGINT before closing what is left.")
    var shutdownTimeout = 30.0

    @Option(name: .customLong("max-batch-size"), help: "Images per forward pass at most (default 8 on the CPU, 64 on a GPU, which needs large batches to fill).")
    var maxBatchSize: Int?

    @Option(name: .customLong("max-queue-delay-ms"), help: "Longest wait, in ms, for a batch to fill after its first request; a worker waits only under load (requests arrived during its last pass), never when idle.")
    var maxQueueDelayMs = 2.0

    @Option(name: .customLong("batching"), help: "adaptive: a partial batch waits for company only under load, never on an idle worker; fixed: always, up to --max-queue-delay-ms.")
    var batching = "adaptive"

    @Option(name: .customLong("max-queue"), help: "Images waiting per model at most (503 with Retry-After beyond).")
    var maxQueue = 256

    @Option(name: .customLong("request-timeout-ms"), help: "Default deadline per request, queue time included (0 for none).")
    var requestTimeoutMs = 30_000

    @Option(name: .customLong("top-k"), help: "Default number of classes in /v1/classify answers.")
    var topK = 5

    @Flag(name: .customLong("enable-benchmark"), help: "Serve GET /v1/benchmark (the Vim vs FastVim resolution-scaling comparison).")
    var enableBenchmark = false

    @Option(name: .customLong("benchmark-max-seconds"), help: "Start no new benchmark measurement after this many seconds.")
    var benchmarkMaxSeconds = 300.0

    @OptionGroup var device: DeviceOptions

    @Option(name: .customLong("threads"), help: "Compute threads per forward pass (default: one per active core).")
    var threads: Int?

    @Option(name: .customLong("decode-workers"), help: "Threads decoding and preprocessing images (default: one per active core).")
    var decodeWorkers: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "fastvim")
        var settings = ModelWorker.Settings()
        settings.maxBatch = max(1, maxBatchSize ?? (device.isCUDA ? 64 : 8))
        settings.maxQueueDelaySeconds = max(0, maxQueueDelayMs) / 1000
        guard let batching = ModelWorker.Batching(rawValue: batching) else {
            throw ValidationError("--batching is adaptive or fixed, not \(self.batching)")
        }
        settings.batching = batching
        settings.maxQueue = max(1, maxQueue)
        settings.maxActivationBytes = max(1 << 20, maxActivationBytes)
        settings.maxQueuedInputBytes = max(1 << 20, maxQueuedInputBytes)

        let backend = try device.backend()
        logger.info("forward passes run on \(backend.summary)")
        var served: [ServedModel] = []
        var repository: ModelRepository?
        if let modelRepository {
            guard let mode = ModelRepository.ControlMode(rawValue: modelControlMode) else {
                throw ValidationError("--model-control-mode is none, explicit or poll")
            }
            guard loadModels.isEmpty || mode == .explicit else { throw ValidationError("--load-model needs --model-control-mode explicit") }
            let weights = self.weights
            let repo = try ModelRepository(directory: modelRepository, mode: mode, settings: settings, logger: logger) {
                checkpoint, config, configPath, name in
                do {
                    return try ModelBundle(checkpoint: checkpoint, weights: weights, name: name, backend: backend,
                                           resolvedConfig: (config, configPath))
                } catch {
                    throw error
                }
            }
            for name in mode == .explicit ? loadModels : repo.modelNames() {
                do {
                    let models = try repo.build(name)
                    served += models
                    repo.adopt(models)
                } catch {
                    // One broken model does not stop the others; explicit loads must all work.
                    if mode == .explicit { throw ValidationError("\(error)") }
                    logger.error("\(error)")
                }
            }
            logger.info("model repository \(repo.directory): \(mode.rawValue) control, \(Set(served.map(\.name)).count) models loaded")
            repository = repo
        }
        if modelRepository == nil && (checkpoint != nil || extraModels.isEmpty) || checkpoint != nil {
            let options = ModelOptions(checkpoint: checkpoint, config: config, weights: weights)
            served.append(ServedModel(bundle: try options.bundle(backend: backend), settings: settings))
        }
        for spec in extraModels {
            let (name, path, cfg) = try Self.parseModel(spec)
            let bundle = try ModelBundle(checkpoint: path, config: cfg, weights: weights, name: name, backend: backend)
            guard !served.contains(where: { $0.name == bundle.name }) else { throw ValidationError("two models named \(bundle.name)") }
            served.append(ServedModel(bundle: bundle, settings: settings))
        }

        var http = HTTPServerConfiguration()
        http.host = host
        http.port = port
        http.tlsCertificate = tlsCert
        http.tlsKey = tlsKey
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsClientCA == nil || tlsCert != nil else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        http.tlsClientCA = tlsClientCA
        http.maxBodyBytes = maxBodyBytes
        http.maxConnections = maxConnections
        http.maxConcurrentStreams = maxConcurrentStreams
        http.idleTimeoutSeconds = idleTimeout
        http.headerTimeoutSeconds = headerTimeout
        http.bodyTimeoutSeconds = bodyTimeout
        http.shutdownTimeoutSeconds = shutdownTimeout
        http.requestTimeoutSeconds = receiveTimeout
        http.sendTimeoutSeconds = sendTimeout
        http.maxBufferedBodyBytes = max(maxBodyBytes, maxBufferedBodyBytes)
        http.maxResponseQueueBytes = max(64 << 10, maxResponseQueueBytes)

        var appOptions = ServingApp.Options()
        appOptions.defaultTimeoutMilliseconds = requestTimeoutMs > 0 ? requestTimeoutMs : nil
        appOptions.defaultTopK = max(1, topK)
        appOptions.benchmarkEnabled = enableBenchmark
        appOptions.benchmarkMaxSeconds = benchmarkMaxSeconds
        if let decodeWorkers { appOptions.decodeWorkers = max(1, decodeWorkers) }
        if let threads { Parallel.setWidth(threads) }
        let tokenFile = authTokenFile ?? ProcessInfo.processInfo.environment["FASTVIM_AUTH_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let tokenFile {
            do {
                appOptions.accessControl = try AccessControl(tokenFile: tokenFile, protectHealth: protectHealth)
            } catch {
                throw ValidationError("\(error)")
            }
        } else if protectHealth {
            throw ValidationError("--protect-health needs --auth-token-file")
        }
        let app = ServingApp(models: served, options: appOptions, logger: logger)
        app.repository = repository
        repository?.startPolling(every: repositoryPollSeconds)
        let server = try HTTPServer(configuration: http, handler: app, logger: logger)
        app.server = server
        app.observeRefusals(of: server)

        for m in served {
            let a = m.bundle.model.architecture
            logger.info("model \(m.name): \(a.family.rawValue) D=\(a.embedDim) depth=\(a.depth) classes=\(a.numClasses) input \(m.bundle.inputHeight)x\(m.bundle.inputWidth) from \(m.bundle.checkpointPath)")
        }
        if let access = appOptions.accessControl {
            logger.info("access control: \(access.tokenCount) bearer tokens from \(access.path); health and readiness \(access.protectHealth ? "need a token" : "open")")
        } else {
            logger.warning("access control is off: every route, the benchmark included, is open to anyone who reaches the port (--auth-token-file enables bearer tokens)")
        }
        if tlsClientCA != nil { logger.info("mutual TLS: client certificates required (CA \(tlsClientCA ?? ""))") }
        let scheme = server.isTLSEnabled ? (tlsClientCA != nil ? "https, client certificates required" : "https+http") : "http"
        logger.info("serving on \(server.addresses.joined(separator: ", ")) (\(scheme); HTTP/1.1, h2c\(server.isTLSEnabled ? ", h2" : "")), batch \(settings.maxBatch), queue \(settings.maxQueue), compute threads \(Parallel.width)")

        // Signals arrive on a GCD source, never in a signal handler: shutdown is ordinary code.
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { server.beginShutdown() }
            source.resume()
            sources.append(source)
        }
        // SIGHUP re-reads the token file; a broken file keeps the tokens in force.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { [access = appOptions.accessControl] in
            if let repository {
                repository.rescan()
                logger.info("SIGHUP: re-read the model repository \(repository.directory)")
            }
            guard let access else { return logger.info("SIGHUP: no token file to re-read") }
            do {
                try access.reload()
                logger.info("SIGHUP: re-read \(access.tokenCount) bearer tokens from \(access.path)")
            } catch {
                logger.error("SIGHUP: \(error); the tokens in force stay")
            }
        }
        hangup.resume()
        sources.append(hangup)
        server.run()
        app.stop()
        logger.info("stopped")
        _ = sources
        // A forward pass cut off by --shutdown-timeout may still be running on a worker
        // thread: exit()'s library destructors (the BLAS libraries unmapping their buffers, the CUDA
        // driver's teardown) would pull memory from under it, so leave without them.
        fflush(nil)
        _exit(0)
    }

    static func parseModel(_ spec: String) throws -> (String, String, String?) {
        guard let eq = spec.firstIndex(of: "=") else { throw ValidationError("--model takes NAME=PATH[,config=FILE], got \(spec)") }
        let name = String(spec[..<eq])
        var rest = String(spec[spec.index(after: eq)...])
        var config: String?
        if let comma = rest.range(of: ",config=") {
            config = String(rest[comma.upperBound...])
            rest = String(rest[..<comma.lowerBound])
        }
        guard !name.isEmpty, !rest.isEmpty else { throw ValidationError("--model takes NAME=PATH[,config=FILE], got \(spec)") }
        return (name, rest, config)
    }
}
