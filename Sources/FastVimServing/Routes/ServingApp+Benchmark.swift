import FastVimEngine
import FastVimHTTP
import Foundation
import Synchronization

/// GET /v1/benchmark: the resolution-scaling comparison from the deployed server. Off
/// unless enabled; one at a time; refused (409) while inference traffic is in flight, and
/// stopped (409) at the next pass boundary when traffic arrives, so it never competes with
/// real requests for more than one forward pass.
extension ServingApp {
    func benchmark(_ request: HTTPRequest, _ r: Reply) {
        guard options.benchmarkEnabled else {
            return r.fail(.notFound("the benchmark endpoint is off; start the server with --enable-benchmark"))
        }
        var plan = BenchmarkPlan()
        // The server's own device: the one its models run on.
        let backend = models.first?.bundle.backend ?? CPUBackend.shared
        plan.device = backend.name
        plan.maxSeconds = options.benchmarkMaxSeconds
        let format: BenchmarkPlan.Report.Format
        do {
            func list(_ name: String) -> [String]? {
                request.queryValue(name).map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            }
            func int(_ name: String) throws(ServingError) -> Int? {
                guard let raw = request.queryValue(name) else { return nil }
                guard let v = Int(raw) else { throw .badRequest("\(name) must be an integer") }
                return v
            }
            if let m = list("models") { plan.models = m }
            if let sizes = list("resolutions") {
                plan.resolutions = try sizes.map { (s) throws(ServingError) -> Int in
                    guard let v = Int(s) else { throw .badRequest("resolutions must be integers") }
                    return v
                }
            }
            if let b = try int("batch") { plan.batch = b }
            if let w = try int("warmup") { plan.warmup = w }
            if let i = try int("iterations") { plan.iterations = i }
            if let n = try int("rounds") { plan.rounds = n }
            if let d = request.queryValue("device") { plan.device = d }
            let name = request.queryValue("format") ?? "json"
            guard let f = BenchmarkPlan.Report.Format(rawValue: name) else {
                throw ServingError.badRequest("format must be json, csv, markdown or svg")
            }
            format = f
            try plan.validate()
        } catch let e as ServingError {
            return r.fail(e)
        } catch {
            return r.fail(.badRequest("\(error)"))
        }
        guard benchmarkRunning.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            return r.fail(.conflict("a benchmark is already running"))
        }
        guard !inferenceBusy() else {
            benchmarkRunning.store(false, ordering: .releasing)
            return r.fail(.conflict("inference requests are in flight; the benchmark runs only on an idle server"))
        }
        let plannedRun = plan
        let thread = Thread { [self] in
            defer { benchmarkRunning.store(false, ordering: .releasing) }
            do {
                let report = try plannedRun.run(on: backend, resolve: { name in self.model(named: name)?.bundle.model },
                                          shouldStop: { self.inferenceBusy() || r.isFinished })
                r.send(HTTPResponse(status: 200, headers: [("content-type", format.contentType)], body: Array(report.render(format).utf8)))
            } catch let e as BenchmarkPlan.PlanError {
                if case .interrupted = e { return r.fail(.conflict(e.description)) }
                r.fail(.badRequest(e.description))
            } catch {
                r.fail(.backendFailure("\(error)"))
            }
        }
        thread.name = "benchmark"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Inference in flight or queued: the benchmark request itself is the one allowed.
    func inferenceBusy() -> Bool {
        (server?.inflightRequests ?? 0) > 1 || models.contains { $0.worker.depth > 0 }
    }
}
