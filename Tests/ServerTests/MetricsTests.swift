import Foundation
import Testing
import TestSupport

extension ServerTests {
    /// /metrics read by Prometheus's own Python client parser after known traffic.
    @Suite struct Metrics {
        /// Parses exposition text with prometheus_client and prints one JSON line per sample.
        static let parser = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
        print(json.dumps(out))
        """

        struct Sample {
            let family: String
            let type: String
            let name: String
            let labels: [String: String]
            let value: Double
        }

        static func parse(_ text: String) throws -> [Sample] {
            let path = Paths.tempDir("metrics") + "/metrics.txt"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let r = try runCommand("python3", ["-c", parser], timeout: 60, stdin: path)
            #expect(r.status == 0, "prometheus_client could not parse /metrics (run `make deps`): \(r.stderr)")
            let rows = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]])
            return rows.map {
                Sample(family: $0["family"] as? String ?? "", type: $0["type"] as? String ?? "", name: $0["name"] as? String ?? "",
                       labels: $0["labels"] as? [String: String] ?? [:], value: ($0["value"] as? NSNumber)?.doubleValue ?? .nan)
            }
        }

        static func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }

        @Test func prometheusParsesOurExpositionWithTheRightValues() throws {
            try withServer(Paths.smallModelArgs() + ["--max-body-bytes", String(1 << 20)]) { s in
                // Refused by the HTTP layer itself, still counted under the route: 413, too_large.
                let big = Paths.tempDir("metrics-big") + "/big.bin"
                write([UInt8](repeating: 1, count: 2 << 20), to: big)
                #expect(try curl(["--http1.1", "--data-binary", "@" + big, s.base + "/v1/classify"]).status == 413)
                for _ in 0 ..< 3 {
                    let r = try curl(["--data-binary", "@" + Paths.image("tiny.png"), s.base + "/v1/classify"])
                    #expect(r.status == 200)
                }
                #expect(try curl(["--data-binary", "GIF89a....", s.base + "/v1/classify"]).status == 415)
                #expect(try curl([s.base + "/nope"]).status == 404)
                let samples = try Self.parse(try curl([s.base + "/metrics"]).text)
                let model = "small"
                #expect(Self.value(samples, "fastvim_requests_total", ["route": "/v1/classify", "code": "200"]) == 3)
                #expect(Self.value(samples, "fastvim_requests_total", ["route": "/v1/classify", "code": "415"]) == 1)
                #expect(Self.value(samples, "fastvim_requests_total", ["code": "404"]) == 1)
                #expect(Self.value(samples, "fastvim_images_total", ["model": model]) == 3)
                #expect(Self.value(samples, "fastvim_rejected_total", ["reason": "unsupported_media_type", "model": model]) == 1)
                #expect(Self.value(samples, "fastvim_requests_total", ["route": "/v1/classify", "code": "413"]) == 1)
                #expect(Self.value(samples, "fastvim_rejected_total", ["reason": "too_large", "model": model]) == 1)
                #expect(Self.value(samples, "fastvim_batch_size_count", ["model": model]) ?? 0 >= 1)
                #expect(Self.value(samples, "fastvim_batch_size_sum", ["model": model]) == 3)
                #expect(Self.value(samples, "fastvim_inference_duration_seconds_count", ["model": model]) ?? 0 >= 1)
                #expect(Self.value(samples, "fastvim_decode_duration_seconds_count") == 3)
                #expect(Self.value(samples, "fastvim_queue_duration_seconds_count", ["model": model]) == 3)
                #expect(Self.value(samples, "fastvim_request_duration_seconds_count", ["route": "/v1/classify"]) == 5)
                #expect(Self.value(samples, "fastvim_queue_depth", ["model": model]) == 0)
                #expect(Self.value(samples, "fastvim_build_info", ["device": "cpu"]) == 1)
                #expect(Self.value(samples, "fastvim_activation_memory_bytes", ["model": model]) ?? 0 > 100_000)
                #expect(Self.value(samples, "fastvim_http_connections", ["protocol": "http1"]) ?? 0 >= 1)
                #expect(Self.value(samples, "process_resident_memory_bytes") ?? 0 > 1_000_000)
                #expect(Self.value(samples, "process_open_fds") ?? 0 > 3)
                #expect(Self.value(samples, "process_cpu_seconds_total") ?? 0 > 0)
                // Histograms: cumulative buckets ending in +Inf equal to _count.
                let buckets = samples.filter { $0.name == "fastvim_request_duration_seconds_bucket" && $0.labels["route"] == "/v1/classify" }
                #expect(buckets.last?.labels["le"] == "+Inf" && buckets.last?.value == 5)
                #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
                // OIP statistics extension agrees with the counters.
                let stats = try curl([s.base + "/v2/models/\(model)/stats"]).json()
                let entry = try #require((stats["model_stats"] as? [[String: Any]])?.first)
                #expect(entry["inference_count"] as? Int == 3)
            }
        }
    }
}
