import CTLS
import FastVimEngine
import Foundation
import Logging

/// Loads, reloads and unloads models from a repository directory (`RepositoryLayout`) while
/// the server runs, with Triton's control modes: `none` (everything at start, no changes
/// after, except SIGHUP's re-read), `explicit` (what `--load-model` names, then the load and
/// unload API), `poll` (the repository re-read every few seconds). A new or changed version
/// is built beside the serving one and swapped in at once; the one it replaces finishes its
/// queue before it is freed. A version that fails to load leaves what is serving untouched
/// and says why in the index and the log.
public final class ModelRepository: @unchecked Sendable {
    public enum ControlMode: String, Sendable, CaseIterable {
        case none, explicit, poll
    }

    public struct RepositoryError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Builds a model's bundle: (checkpoint, config, config path, name).
    public typealias BundleMaker = @Sendable (String, ModelConfig, String?, String) throws -> ModelBundle

    let layout: RepositoryLayout
    public let mode: ControlMode
    let settings: ModelWorker.Settings
    let makeBundle: BundleMaker
    let logger: Logger
    weak var app: ServingApp?
    /// One load or unload at a time.
    private let serial = NSLock()
    /// Signatures of the checkpoints each loaded version came from.
    private var loaded: [String: [Int: String]] = [:]
    private var pollThread: Thread?

    public init(directory: String, mode: ControlMode, settings: ModelWorker.Settings, logger: Logger,
                makeBundle: @escaping BundleMaker) throws {
        do {
            layout = try RepositoryLayout(directory: directory)
        } catch {
            throw RepositoryError(description: "\(error)")
        }
        self.mode = mode
        self.settings = settings
        self.logger = logger
        self.makeBundle = makeBundle
    }

    public var directory: String { layout.root }

    /// Every model the repository holds.
    public func modelNames() -> [String] { layout.modelNames() }

    /// Builds the models of `name` its version policy selects, without serving them: what
    /// start-up does before the server exists.
    public func build(_ name: String) throws -> [ServedModel] {
        let model: RepositoryLayout.Model
        do {
            model = try layout.model(name)
        } catch {
            throw RepositoryError(description: "\(error)")
        }
        guard !model.versions.isEmpty else {
            throw RepositoryError(description: "model \(name) has no version directory holding exactly one checkpoint (\(layout.root)/\(name)/<version>/<file>)")
        }
        var built: [ServedModel] = []
        var failures: [String] = []
        for version in model.versions {
            do {
                built.append(try build(model, version))
            } catch {
                failures.append("version \(version.number): \(error)")
                app?.store.setState(name, version: version.number, "UNAVAILABLE", reason: "\(error)")
            }
        }
        guard failures.isEmpty || !built.isEmpty else {
            throw RepositoryError(description: "model \(name) failed to load: \(failures.joined(separator: "; "))")
        }
        for f in failures { logger.error("model \(name) \(f); serving what loaded") }
        return built
    }

    private func build(_ model: RepositoryLayout.Model, _ version: RepositoryLayout.Version) throws -> ServedModel {
        if let expected = model.sha256[version.number] {
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: version.checkpoint), options: .alwaysMapped) else {
                throw RepositoryError(description: "cannot read \(version.checkpoint)")
            }
            var digest = [UInt8](repeating: 0, count: 32)
            data.withUnsafeBytes { ctls_sha256($0.baseAddress, $0.count, &digest) }
            let hex = digest.map { String(format: "%02x", $0) }.joined()
            guard hex == expected else {
                throw RepositoryError(description: "\(version.checkpoint) has SHA-256 \(hex), config.json pins \(expected)")
            }
        }
        let bundle = try makeBundle(version.checkpoint, model.config, model.configPath, model.name)
        return ServedModel(bundle: bundle, settings: settings, version: version.number)
    }

    /// Loads (or reloads) a model: its selected versions are built beside what serves and
    /// swapped in; versions its policy no longer selects are retired.
    public func load(_ name: String) throws {
        serial.lock()
        defer { serial.unlock() }
        guard let app else { throw RepositoryError(description: "the repository has no server") }
        let model: RepositoryLayout.Model
        do {
            model = try layout.model(name)
        } catch {
            throw RepositoryError(description: "\(error)")
        }
        var failures: [String] = []
        var kept: Set<Int> = []
        for version in model.versions {
            kept.insert(version.number)
            if loaded[name]?[version.number] == version.signature, app.store.model(named: name, version: version.number) != nil { continue }
            let serving = app.store.model(named: name, version: version.number) != nil
            if !serving { app.store.setState(name, version: version.number, "LOADING") }
            do {
                let served = try build(model, version)
                app.install(served)
                loaded[name, default: [:]][version.number] = version.signature
                logger.info("model \(name) version \(version.number) loaded from \(version.checkpoint)")
            } catch {
                failures.append("version \(version.number): \(error)")
                app.store.setState(name, version: version.number, serving ? "READY" : "UNAVAILABLE", reason: "\(error)")
                logger.error("model \(name) version \(version.number) failed to load: \(error); \(serving ? "the serving one stays" : "not served")")
            }
        }
        // Versions the policy no longer selects go only once a selected one serves: a new
        // version that fails to load leaves the serving one in place.
        let servingSelected = kept.contains { app.store.model(named: name, version: $0) != nil }
        if servingSelected {
            for old in app.store.remove(name, keeping: kept, reason: "not selected by the version policy") {
                loaded[name]?[old.version] = nil
                old.worker.retire()
            }
        }
        if model.versions.isEmpty {
            throw RepositoryError(description: "model \(name) has no version directory holding exactly one checkpoint")
        }
        if !failures.isEmpty && kept.allSatisfy({ app.store.model(named: name, version: $0) == nil }) {
            throw RepositoryError(description: "model \(name) failed to load: \(failures.joined(separator: "; "))")
        }
    }

    /// Stops serving every version of a model; queued requests still finish.
    public func unload(_ name: String) throws {
        serial.lock()
        defer { serial.unlock() }
        guard let app else { throw RepositoryError(description: "the repository has no server") }
        let removed = app.store.remove(name)
        guard !removed.isEmpty else { throw RepositoryError(description: "model \(name) is not loaded") }
        loaded[name] = nil
        for m in removed { m.worker.retire() }
        logger.info("model \(name) unloaded")
    }

    /// Records the signatures of models built at start-up.
    public func adopt(_ models: [ServedModel]) {
        for m in models {
            if let version = (try? layout.model(m.name))?.versions.first(where: { $0.number == m.version }) {
                loaded[m.name, default: [:]][m.version] = version.signature
            }
        }
    }

    /// Re-reads the repository: loaded models whose files changed are reloaded; in `poll`
    /// mode new models are loaded and removed ones unloaded too.
    public func rescan() {
        let present = Set(layout.modelNames())
        let current = serialLoadedNames()
        for name in current.sorted() {
            if present.contains(name) {
                try? load(name)
            } else if mode == .poll {
                try? unload(name)
            }
        }
        if mode == .poll {
            for name in present.subtracting(current).sorted() { try? load(name) }
        }
    }

    private func serialLoadedNames() -> Set<String> {
        serial.lock()
        defer { serial.unlock() }
        return Set(loaded.keys)
    }

    public func startPolling(every seconds: Double) {
        guard mode == .poll, pollThread == nil else { return }
        let t = Thread { [weak self] in
            while let self {
                Thread.sleep(forTimeInterval: max(0.2, seconds))
                self.rescan()
            }
        }
        t.name = "repository-poll"
        pollThread = t
        t.start()
    }
}
