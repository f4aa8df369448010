import Foundation

/// Finds files shipped with the product (the default model, label lists) whether the binary
/// runs from a checkout (`.build/release/fastvim`), an install, or the container.
public enum ResourceLocator {
    /// Relative path of the default model's checkpoint inside the resources root.
    public static let defaultModel = "models/fastvim-digits/fastvim_digits.pth"

    /// Candidate roots, most specific first: `$FASTVIM_HOME`, the working directory, the
    /// executable's ancestors (a checkout), then `/usr/share/fastvim`.
    public static var roots: [String] {
        var out: [String] = []
        if let home = ProcessInfo.processInfo.environment["FASTVIM_HOME"] { out.append(home) }
        out.append(FileManager.default.currentDirectoryPath)
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0 ..< 4 {
            out.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        out.append("/usr/share/fastvim")
        return out
    }

    public static func find(_ relative: String) -> String? {
        for root in roots {
            let path = (root as NSString).appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}
