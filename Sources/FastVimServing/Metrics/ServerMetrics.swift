import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// Every metric the server exports, through swift-metrics with a Prometheus factory bound
/// to this instance's own registry (no global bootstrap: several servers can coexist in tests).
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        let ms: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        f.defaultDurationHistogramBuckets = ms.map { .nanoseconds(Int64($0 * 1e9)) }
        f.valueHistogramBuckets["fastvim_batch_size"] = [1, 2, 4, 8, 16, 32, 64]
        factory = f
    }

    public func request(route: String, code: Int, seconds: Double) {
        Counter(label: "fastvim_requests_total", dimensions: [("route", route), ("code", String(code))], factory: factory).increment()
        Timer(label: "fastvim_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    public func queue(seconds: Double, model: String) {
        Timer(label: "fastvim_queue_duration_seconds", dimensions: [("model", model)], factory: factory).recordNanoseconds(Int64(seconds * 1e9))
    }

    public func decode(seconds: Double) {
        Timer(label: "fastvim_decode_duration_seconds", factory: factory).recordNanoseconds(Int64(seconds * 1e9))
    }

    public func batch(size: Int, seconds: Double, model: String) {
        Timer(label: "fastvim_inference_duration_seconds", dimensions: [("model", model)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
        Recorder(label: "fastvim_batch_size", dimensions: [("model", model)], aggregate: true, factory: factory).record(size)
        Counter(label: "fastvim_images_total", dimensions: [("model", model)], factory: factory).increment(by: size)
    }

    public func queueDepth(_ depth: Int, model: String) {
        Gauge(label: "fastvim_queue_depth", dimensions: [("model", model)], factory: factory).record(depth)
    }

    /// Activation buffers the model's batcher holds (host RAM, or GPU memory on a GPU).
    /// The memory budgets' use: request bodies held, answers not yet sent (server-wide), and
    /// input tensors waiting per model.
    public func budgets(bodyBytes: Int, unsentBytes: Int) {
        Gauge(label: "fastvim_buffered_body_bytes", factory: factory).record(bodyBytes)
        Gauge(label: "fastvim_unsent_response_bytes", factory: factory).record(unsentBytes)
    }

    public func queuedInput(_ bytes: Int, model: String) {
        Gauge(label: "fastvim_queued_input_bytes", dimensions: [("model", model)], factory: factory).record(bytes)
    }

    public func activationMemory(_ bytes: Int, model: String) {
        Gauge(label: "fastvim_activation_memory_bytes", dimensions: [("model", model)], factory: factory).record(bytes)
    }

    public func inflight(_ n: Int) {
        Gauge(label: "fastvim_inflight_requests", factory: factory).record(n)
    }

    public func connections(_ byProtocol: [String: Int]) {
        for (p, n) in byProtocol {
            Gauge(label: "fastvim_http_connections", dimensions: [("protocol", p)], factory: factory).record(n)
        }
    }

    public func rejected(reason: String, model: String) {
        Counter(label: "fastvim_rejected_total", dimensions: [("reason", reason), ("model", model)], factory: factory).increment()
    }

    public func buildInfo(version: String, device: String) {
        Gauge(label: "fastvim_build_info", dimensions: [("version", version), ("device", device)], factory: factory).record(1)
    }

    /// Prometheus text exposition format 0.0.4, with the standard process metrics appended.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        buffer += Array(ProcessMetrics.exposition().utf8)
        return buffer
    }
}
