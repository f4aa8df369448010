import FastVimEngine
import Foundation

/// What a model repository holds, read from disk with Triton's layout:
/// `DIR/<model>/<version>/<checkpoint>` (one `.pth`, `.ckpt` or `.safetensors` per version
/// directory) and an optional `DIR/<model>/config.json`: the model config JSON of
/// `--config`, plus `version_policy` (Triton's `{"latest": {"num_versions": N}}`, `{"all": {}}`
/// or `{"specific": {"versions": [...]}}`; default latest 1) and `sha256` (a checkpoint's
/// digest per version, `{"1": "<hex>"}`, checked before it is used).
///
/// Only files inside the repository are ever read: every path is resolved (links followed)
/// and must stay under the repository's own resolved path; names with `/`, `..` or a leading
/// `.` are not models or versions. Nothing is fetched from anywhere else.
struct RepositoryLayout {
    struct Version: Equatable {
        let number: Int
        let checkpoint: String
        /// Size and modification time: a changed file is reloaded by `poll` and SIGHUP.
        let signature: String
    }

    struct Model {
        let name: String
        let config: ModelConfig
        let configPath: String?
        let versions: [Version]
        let sha256: [Int: String]
    }

    enum VersionPolicy: Equatable {
        case latest(Int)
        case all
        case specific([Int])
    }

    struct LayoutError: Error, CustomStringConvertible {
        let description: String
    }

    static let checkpointExtensions = ["pth", "ckpt", "safetensors", "pt"]
    let root: String

    init(directory: String) throws {
        let resolved = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LayoutError(description: "the model repository \(directory) is not a directory")
        }
        root = resolved
    }

    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && name != ".." && name.utf8.count <= 255
    }

    /// `path` with links resolved, if it lies inside the repository.
    func inside(_ path: String) -> String? {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return resolved == root || resolved.hasPrefix(root + "/") ? resolved : nil
    }

    /// Model names present (directories).
    func modelNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { name in
            var isDirectory: ObjCBool = false
            return Self.isPlainName(name) && inside(root + "/" + name) != nil
                && FileManager.default.fileExists(atPath: root + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
    }

    /// One model's config and the versions its policy selects.
    func model(_ name: String) throws -> Model {
        var isDirectory: ObjCBool = false
        guard Self.isPlainName(name), let directory = inside(root + "/" + name),
              FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw LayoutError(description: "no model \(name) in the repository")
        }
        var policy = VersionPolicy.latest(1)
        var sha256: [Int: String] = [:]
        var config = ModelConfig()
        var configPath: String?
        let configFile = directory + "/config.json"
        if FileManager.default.fileExists(atPath: configFile) {
            guard let resolved = inside(configFile) else { throw LayoutError(description: "\(name)/config.json leads outside the repository") }
            guard let data = FileManager.default.contents(atPath: resolved),
                  var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { throw LayoutError(description: "\(name)/config.json is not a JSON object") }
            if let p = object.removeValue(forKey: "version_policy") { policy = try Self.policy(p, model: name) }
            if let s = object.removeValue(forKey: "sha256") {
                guard let map = s as? [String: String] else { throw LayoutError(description: "\(name)/config.json: sha256 must map versions to hex digests") }
                for (k, v) in map {
                    guard let n = Int(k), v.count == 64, v.lowercased().allSatisfy(\.isHexDigit) else {
                        throw LayoutError(description: "\(name)/config.json: sha256[\(k)] is not a version and a 64-digit hex digest")
                    }
                    sha256[n] = v.lowercased()
                }
            }
            if let labels = object["labels_file"] as? String, inside(labels.hasPrefix("/") ? labels : directory + "/" + labels) == nil {
                throw LayoutError(description: "\(name)/config.json: labels_file leads outside the repository")
            }
            let rest = try JSONSerialization.data(withJSONObject: object)
            do {
                config = try ModelConfig(json: rest, directory: directory, source: "\(name)/config.json")
            } catch {
                throw LayoutError(description: "\(error)")
            }
            configPath = resolved
        }
        var versions: [Version] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let number = Int(entry), number > 0, String(number) == entry else { continue }
            guard let versionDirectory = inside(directory + "/" + entry) else {
                throw LayoutError(description: "\(name)/\(entry) leads outside the repository")
            }
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: versionDirectory)) ?? [])
                .filter { Self.checkpointExtensions.contains(($0 as NSString).pathExtension.lowercased()) && Self.isPlainName($0) }
            guard files.count == 1 else { continue }
            guard let checkpoint = inside(versionDirectory + "/" + files[0]) else {
                throw LayoutError(description: "\(name)/\(entry)/\(files[0]) leads outside the repository: refused")
            }
            let attributes = (try? FileManager.default.attributesOfItem(atPath: checkpoint)) ?? [:]
            let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            versions.append(Version(number: number, checkpoint: checkpoint, signature: "\(size)@\(modified)"))
        }
        versions.sort { $0.number < $1.number }
        switch policy {
        case let .latest(n): versions = Array(versions.suffix(n))
        case .all: break
        case let .specific(list): versions = versions.filter { list.contains($0.number) }
        }
        return Model(name: name, config: config, configPath: configPath, versions: versions, sha256: sha256)
    }

    /// Every version directory of a model, whatever the policy: what a checkpoint that fails
    /// to resolve is reported against.
    static func policy(_ value: Any, model: String) throws -> VersionPolicy {
        guard let object = value as? [String: Any], object.count == 1, let (kind, body) = object.first else {
            throw LayoutError(description: "\(model)/config.json: version_policy must be one of latest, all, specific")
        }
        switch kind {
        case "latest":
            guard let b = body as? [String: Any], let n = b["num_versions"] as? Int, n >= 1 else {
                throw LayoutError(description: "\(model)/config.json: version_policy.latest needs num_versions >= 1")
            }
            return .latest(n)
        case "all": return .all
        case "specific":
            guard let b = body as? [String: Any], let list = b["versions"] as? [Int], !list.isEmpty else {
                throw LayoutError(description: "\(model)/config.json: version_policy.specific needs versions")
            }
            return .specific(list)
        default:
            throw LayoutError(description: "\(model)/config.json: version_policy must be one of latest, all, specific")
        }
    }
}
