import Foundation

/// The models being served, changeable while the server runs: for each name its versions
/// (new requests go to the highest), and each version's state for the repository index.
/// Swapping a version is one step under the lock: a request finds either the old model or
/// the new one, never neither.
final class ModelStore: @unchecked Sendable {
    struct State {
        var state: String
        var reason: String
    }

    private let lock = NSLock()
    private var order: [String] = []
    private var serving: [String: [Int: ServedModel]] = [:]
    private var states: [String: [Int: State]] = [:]

    init(_ models: [ServedModel]) {
        for m in models { _ = install(m) }
    }

    /// The highest version of every served name, in the order names were first served.
    var current: [ServedModel] {
        lock.withLock { order.compactMap { name in serving[name].flatMap { $0.max { $0.key < $1.key }?.value } } }
    }

    /// The versions of `name` being served, ascending.
    func versions(of name: String) -> [Int] {
        lock.withLock { (serving[name] ?? [:]).keys.sorted() }
    }

    func model(named name: String, version: Int? = nil) -> ServedModel? {
        lock.withLock {
            guard let versions = serving[name] else { return nil }
            if let version { return versions[version] }
            return versions.max { $0.key < $1.key }?.value
        }
    }

    /// Serves `model` under its name and version; the model it replaces, if any, is returned
    /// for the caller to retire once its queue has run.
    func install(_ model: ServedModel) -> ServedModel? {
        lock.withLock {
            if !order.contains(model.name) { order.append(model.name) }
            let old = serving[model.name, default: [:]].updateValue(model, forKey: model.version)
            states[model.name, default: [:]][model.version] = State(state: "READY", reason: "")
            return old
        }
    }

    /// Stops serving the versions of `name` not in `keep` (all of them for nil); returns them.
    func remove(_ name: String, keeping keep: Set<Int>? = nil, reason: String = "unloaded") -> [ServedModel] {
        lock.withLock {
            var removed: [ServedModel] = []
            for (version, model) in serving[name] ?? [:] where keep?.contains(version) != true {
                serving[name]?[version] = nil
                states[name, default: [:]][version] = State(state: "UNAVAILABLE", reason: reason)
                removed.append(model)
            }
            if serving[name]?.isEmpty == true { serving[name] = nil }
            return removed
        }
    }

    func setState(_ name: String, version: Int, _ state: String, reason: String = "") {
        lock.withLock { states[name, default: [:]][version] = State(state: state, reason: reason) }
    }

    func state(_ name: String, version: Int) -> State? {
        lock.withLock { states[name]?[version] }
    }

    /// (name, version, state, reason) for every version the store has seen.
    func index() -> [(name: String, version: Int, state: State)] {
        lock.withLock {
            states.keys.sorted().flatMap { name in
                (states[name] ?? [:]).keys.sorted().map { (name, $0, states[name]![$0]!) }
            }
        }
    }
}
