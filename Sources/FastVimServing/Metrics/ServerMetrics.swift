import Foundation
import Prometheus

/// Every metric the server exports, each family with its HELP text (promtool requires it),
/// registered on this instance's own Prometheus registry (no global bootstrap: several
/// servers can coexist in tests).
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// The families: name and HELP text, each declared once.
    enum Family: String {
        case requests = "fastvim_requests_total"
        case requestDuration = "fastvim_request_duration_seconds"
        case queueDuration = "fastvim_queue_duration_seconds"
        case decodeDuration = "fastvim_decode_duration_seconds"
        case inferenceDuration = "fastvim_inference_duration_seconds"
        case batchSize = "fastvim_batch_size"
        case images = "fastvim_images_total"
        case queueDepth = "fastvim_queue_depth"
        case bufferedBodies = "fastvim_buffered_body_bytes"
        case unsentResponses = "fastvim_unsent_response_bytes"
        case queuedInput = "fastvim_queued_input_bytes"
        case activationMemory = "fastvim_activation_memory_bytes"
        case inflight = "fastvim_inflight_requests"
        case connections = "fastvim_http_connections"
        case rejected = "fastvim_rejected_total"
        case buildInfo = "fastvim_build_info"

        var help: String {
            switch self {
            case .requests: "HTTP requests answered, by route and status code (499: the client left first)."
            case .requestDuration: "Seconds from a request's arrival to its answer, by route."
            case .queueDuration: "Seconds an inference job waited in its model's queue."
            case .decodeDuration: "Seconds spent decoding and preprocessing one request's input, by model."
            case .inferenceDuration: "Seconds of one batched forward pass, by model."
            case .batchSize: "Images per batched forward pass, by model."
            case .images: "Images run through the model."
            case .queueDepth: "Images waiting in the model's queue."
            case .bufferedBodies: "Request-body bytes held across all connections (budget --max-buffered-body-bytes)."
            case .unsentResponses: "Answer bytes queued on connections and not yet written."
            case .queuedInput: "Input-tensor bytes waiting in the model's queue (budget --max-queued-input-bytes)."
            case .activationMemory: "Activation buffers the model's batcher holds: RAM, or GPU memory on a GPU (budget --max-activation-bytes)."
            case .inflight: "Requests being processed."
            case .connections: "Open connections by protocol."
            case .rejected: "Requests refused or failed, by reason and model."
            case .buildInfo: "Always 1: the server's version and the device it computes on."
            }
        }

        var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: rawValue, unitName: "", helpText: help) }
    }

    static let durationBuckets: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        .map { .nanoseconds(Int64($0 * 1e9)) }

    public init() {
        registry = PrometheusCollectorRegistry()
    }

    private func counter(_ f: Family, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: f.descriptor, labels: labels)
    }

    private func gauge(_ f: Family, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: f.descriptor, labels: labels)
    }

    private func seconds(_ f: Family, _ labels: [(String, String)], _ value: Double) {
        registry.makeDurationHistogram(descriptor: f.descriptor, labels: labels, buckets: Self.durationBuckets)
            .recordNanoseconds(Int64(value * 1e9))
    }

    public func request(route: String, code: Int, seconds value: Double) {
        counter(.requests, [("route", route), ("code", String(code))]).increment()
        seconds(.requestDuration, [("route", route)], value)
    }

    public func queue(seconds value: Double, model: String) {
        seconds(.queueDuration, [("model", model)], value)
    }

    public func decode(seconds value: Double, model: String) {
        seconds(.decodeDuration, [("model", model)], value)
    }

    public func batch(size: Int, seconds value: Double, model: String) {
        seconds(.inferenceDuration, [("model", model)], value)
        registry.makeValueHistogram(descriptor: Family.batchSize.descriptor, labels: [("model", model)], buckets: [1, 2, 4, 8, 16, 32, 64])
            .record(Double(size))
        counter(.images, [("model", model)]).increment(by: Int64(size))
    }

    public func queueDepth(_ depth: Int, model: String) {
        gauge(.queueDepth, [("model", model)]).set(to: Double(depth))
    }

    /// The memory budgets' use: request bodies held and answers not yet sent (server-wide).
    public func budgets(bodyBytes: Int, unsentBytes: Int) {
        gauge(.bufferedBodies).set(to: Double(bodyBytes))
        gauge(.unsentResponses).set(to: Double(unsentBytes))
    }

    public func queuedInput(_ bytes: Int, model: String) {
        gauge(.queuedInput, [("model", model)]).set(to: Double(bytes))
    }

    /// Activation buffers the model's batcher holds (host RAM, or GPU memory on a GPU).
    public func activationMemory(_ bytes: Int, model: String) {
        gauge(.activationMemory, [("model", model)]).set(to: Double(bytes))
    }

    public func inflight(_ n: Int) {
        gauge(.inflight).set(to: Double(n))
    }

    public func connections(_ byProtocol: [String: Int]) {
        for (p, n) in byProtocol { gauge(.connections, [("protocol", p)]).set(to: Double(n)) }
    }

    public func rejected(reason: String, model: String) {
        counter(.rejected, [("reason", reason), ("model", model)]).increment()
    }

    public func buildInfo(version: String, device: String) {
        gauge(.buildInfo, [("version", version), ("device", device)]).set(to: 1.0)
    }

    /// Prometheus text exposition format 0.0.4, with the standard process metrics appended.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        buffer += Array(ProcessMetrics.exposition().utf8)
        return buffer
    }
}
