import FastVimEngine
import Foundation

/// The benchmark report as JSON (the default), CSV, a Markdown table, or an SVG chart of
/// throughput against resolution (log-log), like the paper's Fig. 5.
extension BenchmarkPlan.Report {
    public enum Format: String, Sendable, CaseIterable {
        case json, csv, markdown, svg

        public var contentType: String {
            switch self {
            case .json: "application/json"
            case .csv: "text/csv; charset=utf-8"
            case .markdown: "text/markdown; charset=utf-8"
            case .svg: "image/svg+xml"
            }
        }
    }

    static let stageOrder: [StageProfile.Stage] = [
        .norms, .transpose, .inProj, .conv, .pool, .paramProjection, .scan, .combine, .outProj,
    ]

    public func render(_ format: Format) -> String {
        switch format {
        case .json: json()
        case .csv: csv()
        case .markdown: markdown()
        case .svg: svg()
        }
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }

    private func number(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

    func csv() -> String {
        let stages = Self.stageOrder.map(\.rawValue)
        var lines = [(["model", "family", "resolution", "batch", "images_per_second", "images_per_second_min", "images_per_second_max",
                       "ms_per_image", "gflops", "gflops_per_second", "speedup_over_vim_percent", "peak_memory_bytes"]
                    + stages.map { "ms_per_block_\($0)" } + ["sgemm_alongside_gflops_per_second"]).joined(separator: ",")]
        for r in results {
            let fields: [String] = [r.model, r.family, String(r.resolution), String(r.batch), number(r.imagesPerSecond, 4),
                          number(r.imagesPerSecondMin, 4), number(r.imagesPerSecondMax, 4), number(r.msPerImage, 3),
                          number(r.gflops, 4), number(r.gflopsPerSecond, 3), r.speedupOverVimPercent.map { number($0, 1) } ?? "",
                          String(r.peakMemoryBytes)]
            let perStage: [String] = stages.map { s in r.breakdown[s].map { number($0, 4) } ?? "" }
            let reference: String = r.sgemmAlongsideGflopsPerSecond.map { number($0, 2) } ?? ""
            lines.append((fields + perStage + [reference]).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func markdown() -> String {
        var out = "device \(device), \(threads) threads, sgemm \(number(sgemmGflopsPerSecond, 1)) GFLOP/s (multiply-add = 1 FLOP)"
        if rounds > 1 { out += ", \(rounds) rounds (each row its median round; vs Vim the median of the rounds' ratios)" }
        out += "\(truncated ? ", truncated by its time limit (--max-seconds, --benchmark-max-seconds)" : "")\n\n"
        out += "| model | resolution | batch | images/s (min, max) | ms/image | GFLOPs | GFLOP/s | vs Vim | peak memory |\n"
        out += "|---|---|---|---|---|---|---|---|---|\n"
        for r in results {
            out += "| \(r.model) | \(r.resolution) | \(r.batch) | \(number(r.imagesPerSecond)) (\(number(r.imagesPerSecondMin)), \(number(r.imagesPerSecondMax))) | "
            out += "\(number(r.msPerImage)) | \(number(r.gflops)) | \(number(r.gflopsPerSecond, 1)) | "
            out += "\(r.speedupOverVimPercent.map { (($0 >= 0) ? "+" : "") + number($0, 1) + "%" } ?? "") | \(r.peakMemoryBytes / (1 << 20)) MiB |\n"
        }
        let alongside = results.compactMap { r in r.sgemmAlongsideGflopsPerSecond.map { (r, $0) } }
        if !alongside.isEmpty { out += "\n" }
        for (r, reference) in alongside {
            out += "\(r.model) at \(r.resolution) px, batch \(r.batch): \(number(r.gflopsPerSecond, 1)) GFLOP/s, "
            out += "\(number(r.gflopsPerSecond / reference)) of the sgemm timed after each of its passes (median \(number(reference, 1)) GFLOP/s)\n"
        }
        out += "\nPer block, ms (one profiled pass, each stage on its own: untiled, so long sequences run slower than in the timed passes):\n\n| model | resolution | " + Self.stageOrder.map(\.rawValue).joined(separator: " | ") + " |\n"
        out += "|---|---|" + String(repeating: "---|", count: Self.stageOrder.count) + "\n"
        for r in results {
            out += "| \(r.model) | \(r.resolution) | " + Self.stageOrder.map { s in r.breakdown[s.rawValue].map { number($0, 3) } ?? "-" }.joined(separator: " | ") + " |\n"
        }
        for r in results {
            guard let roofline = r.roofline else { continue }
            out += "\nRoofline, \(r.model) at \(r.resolution) px, batch \(r.batch) (per pass; bound: the sgemm rate timed alongside for FLOPs, copy bandwidth for bytes):\n\n"
            out += "| stage | ms | GFLOP | MB | GFLOP/s | GB/s | bound | bound ms | of bound |\n|---|---|---|---|---|---|---|---|---|\n"
            for s in roofline {
                out += "| \(s.stage) | \(number(s.milliseconds)) | \(number(s.gflop, 3)) | \(number(s.megabytes, 1)) | \(s.gflop > 0 ? number(s.gflopsPerSecond, 1) : "-") | "
                out += "\(number(s.gbPerSecond, 1)) | \(s.bound) | \(number(s.boundMilliseconds)) | \(number(s.fractionOfBound * 100, 0))% |\n"
            }
            let total = roofline.reduce(0) { $0 + $1.milliseconds }, bound = roofline.reduce(0) { $0 + $1.boundMilliseconds }
            let gflop = roofline.reduce(0) { $0 + $1.gflop }, rate = gflop / total * 1e3
            out += "| all | \(number(total)) | \(number(gflop, 3)) | | \(number(rate, 1)) | | | \(number(bound)) | \(number(bound / total * 100, 0))% |\n"
            // The sgemm reference is timed apart from the pass; in_proj is a GEMM of the same pass.
            if let inProj = roofline.first(where: { $0.stage == StageProfile.Stage.inProj.rawValue }), inProj.gflopsPerSecond > 0 {
                out += "\nThe whole pass at \(number(rate, 1)) GFLOP/s is \(number(rate / inProj.gflopsPerSecond * 100, 0))% of its own in_proj GEMM's rate.\n"
            }
        }
        return out
    }

    func svg() -> String {
        let width = 640.0, height = 420.0, left = 70.0, right = 150.0, top = 40.0, bottom = 60.0
        let models = results.reduce(into: [String]()) { if !$0.contains($1.model) { $0.append($1.model) } }
        let sizes = Array(Set(results.map(\.resolution))).sorted()
        let values = results.map(\.imagesPerSecond).filter { $0 > 0 }
        guard let lo = values.min(), let hi = values.max(), let s0 = sizes.first, let s1 = sizes.last else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"80\"><text x=\"10\" y=\"40\">no results</text></svg>\n"
        }
        let yMin = pow(10, floor(log10(lo))), yMax = pow(10, ceil(log10(hi)))
        func x(_ r: Int) -> Double {
            s0 == s1 ? left + (width - left - right) / 2
                : left + (log2(Double(r)) - log2(Double(s0))) / (log2(Double(s1)) - log2(Double(s0))) * (width - left - right)
        }
        func y(_ v: Double) -> Double { top + (1 - (log10(v) - log10(yMin)) / (log10(yMax) - log10(yMin))) * (height - top - bottom) }
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(left)\" y=\"22\" font-size=\"14\">Throughput vs resolution (\(device), batch \(results.first?.batch ?? 1), log scales)</text>\n"
        var decade = yMin
        while decade <= yMax * 1.0001 {
            out += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(decade))\" y2=\"\(y(decade))\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(left - 8)\" y=\"\(y(decade) + 4)\" text-anchor=\"end\">\(decade >= 1 ? String(Int(decade)) : String(decade))</text>\n"
            decade *= 10
        }
        for r in sizes {
            out += "<line x1=\"\(x(r))\" x2=\"\(x(r))\" y1=\"\(top)\" y2=\"\(height - bottom)\" stroke=\"#eee\"/>"
            out += "<text x=\"\(x(r))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(r)</text>\n"
        }
        out += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 15)\" text-anchor=\"middle\">resolution (px, square)</text>\n"
        out += "<text x=\"18\" y=\"\((top + height - bottom) / 2)\" transform=\"rotate(-90 18 \((top + height - bottom) / 2))\" text-anchor=\"middle\">images/s</text>\n"
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width - left - right)\" height=\"\(height - top - bottom)\" fill=\"none\" stroke=\"#333\"/>\n"
        for (i, m) in models.enumerated() {
            let color = colors[i % colors.count]
            let points = results.filter { $0.model == m }.sorted { $0.resolution < $1.resolution }
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"" + points.map { "\(x($0.resolution)),\(y($0.imagesPerSecond))" }.joined(separator: " ") + "\"/>\n"
            for p in points {
                out += "<circle cx=\"\(x(p.resolution))\" cy=\"\(y(p.imagesPerSecond))\" r=\"3.5\" fill=\"\(color)\"><title>\(m) \(p.resolution) px: \(number(p.imagesPerSecond)) img/s</title></circle>\n"
            }
            out += "<line x1=\"\(width - right + 12)\" x2=\"\(width - right + 36)\" y1=\"\(top + 14 + Double(i) * 20)\" y2=\"\(top + 14 + Double(i) * 20)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(width - right + 42)\" y=\"\(top + 18 + Double(i) * 20)\">\(m)</text>\n"
        }
        out += "</svg>\n"
        return out
    }
}
