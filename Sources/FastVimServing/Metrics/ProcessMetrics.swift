import Foundation

/// The process metrics Prometheus clients conventionally export (CPU seconds, resident
/// memory, open file descriptors), read from /proc at scrape time. swift-metrics has no
/// settable counter for an absolute CPU total, so these lines are written directly.
enum ProcessMetrics {
    static func exposition() -> String {
        var out = ""
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
            out += "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            out += "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total \(cpu)\n"
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
           let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            let bytes = pages * Int(sysconf(Int32(_SC_PAGESIZE)))
            out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            out += "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes \(bytes)\n"
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            out += "# HELP process_open_fds Number of open file descriptors.\n"
            out += "# TYPE process_open_fds gauge\nprocess_open_fds \(fds.count)\n"
        }
        return out
    }
}
