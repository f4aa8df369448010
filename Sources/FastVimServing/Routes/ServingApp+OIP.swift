import FastVimEngine
import FastVimHTTP
import FastVimImages
import Foundation

/// A model as OIP clients see it. Triton's tools send data for every input a model lists
/// (perf_analyzer does), so each way of calling is its own model with one required input:
/// the tensor form under the model's own name (input `input`, FP32 [N, C, H, W]; UINT8 and
/// UINT16 also taken, and BYTES images for clients written before the split), and, for RGB
/// models, the encoded-image form under `<name>_image` (input `image`, BYTES [N, 1]).
struct OIPModel {
    let served: ServedModel
    let takesImages: Bool

    static let imageSuffix = "_image"
    var name: String { takesImages ? served.name + Self.imageSuffix : served.name }
}

/// Open Inference Protocol v2 (KServe / Triton): metadata, configuration, statistics, the
/// repository index, and `infer` taking tensors or encoded images, in JSON or with the
/// binary extension, answering in either.
extension ServingApp {
    static let serverVersion = "0.1.0"

    static var serverMetadata: [String: Any] { [
        "name": "fastvim-serve", "version": serverVersion,
        "extensions": ["classification", "binary_tensor_data", "statistics", "model_configuration", "model_repository"],
    ] }

    /// Every OIP model name the server answers to.
    var oipModels: [OIPModel] {
        models.flatMap { m in [OIPModel(served: m, takesImages: false)] + (m.bundle.acceptsImages ? [OIPModel(served: m, takesImages: true)] : []) }
    }

    /// The OIP model a name means (`M` or `M_image`), at a version (default: the highest).
    func oipModel(named name: String, version: Int? = nil) -> OIPModel? {
        if let m = store.model(named: name, version: version) { return OIPModel(served: m, takesImages: false) }
        if name.hasSuffix(OIPModel.imageSuffix), let m = store.model(named: String(name.dropLast(OIPModel.imageSuffix.count)), version: version),
           m.bundle.acceptsImages {
            return OIPModel(served: m, takesImages: true)
        }
        return nil
    }

    /// Readiness of a model or one version: false (503) while it loads, after it failed to
    /// load or was unloaded, and while the server drains.
    func versionReadiness(_ parameters: [String: String], _ r: Reply) {
        let name = parameters["model"] ?? ""
        let version = parameters["version"].flatMap { Int($0) }
        if let m = oipModel(named: name, version: version) {
            return r.json(isReady ? 200 : 503, ["name": m.name, "ready": isReady])
        }
        let base = name.hasSuffix(OIPModel.imageSuffix) ? String(name.dropLast(OIPModel.imageSuffix.count)) : name
        let known = store.index().filter { $0.name == base && (version == nil || $0.version == version) }
        guard let last = known.last else { return r.fail(.notFound("no model named \(name)")) }
        r.json(503, ["name": name, "ready": false, "error": "\(last.state.state.lowercased())\(last.state.reason.isEmpty ? "" : ": " + last.state.reason)"])
    }

    /// The model (and version) a route names.
    func withOIPModel(_ parameters: [String: String], _ r: Reply, _ body: (OIPModel) -> Void) {
        let name = parameters["model"] ?? ""
        var version: Int?
        if let raw = parameters["version"] {
            guard let v = Int(raw), v > 0, String(v) == raw else { return r.fail(.notFound("model \(name) has no version \(raw)")) }
            version = v
        }
        guard let model = oipModel(named: name, version: version) else {
            if oipModel(named: name) != nil { return r.fail(.notFound("model \(name) has no version \(parameters["version"] ?? "")")) }
            return r.fail(.notFound("no model named \(name)"))
        }
        body(model)
    }

    /// The OIP statistics extension, from the batcher's counters (both forms of a model share them).
    func statistics(_ model: OIPModel) -> [String: Any] {
        let s = model.served.worker.statistics.withLock { $0 }
        func entry(_ count: Int, _ ns: UInt64) -> [String: Any] { ["count": count, "ns": ns] }
        return [
            "name": model.name, "version": String(model.served.version), "last_inference": s.lastInferenceMilliseconds,
            "inference_count": s.inferences, "execution_count": s.executions,
            "inference_stats": [
                "success": entry(s.successes, s.successNanoseconds), "fail": entry(s.failures, s.failureNanoseconds),
                "queue": entry(s.successes, s.queueNanoseconds), "compute_input": entry(s.executions, 0),
                "compute_infer": entry(s.executions, s.computeNanoseconds), "compute_output": entry(s.executions, 0),
            ],
            "fail_by_reason": s.failuresByReason,
        ]
    }

    func metadata(_ model: OIPModel) -> [String: Any] {
        let a = model.served.bundle.model.architecture
        let input: [String: Any] = model.takesImages
            ? ["name": "image", "datatype": "BYTES", "shape": [-1, 1]]
            : ["name": "input", "datatype": "FP32", "shape": [-1, a.inChannels, -1, -1]]
        return [
            "name": model.name, "versions": store.versions(of: model.served.name).map(String.init), "platform": "fastvim_\(a.family.rawValue)",
            "inputs": [input],
            "outputs": [
                ["name": "logits", "datatype": "FP32", "shape": [-1, a.numClasses]],
                ["name": "probabilities", "datatype": "FP32", "shape": [-1, a.numClasses]],
                ["name": "features", "datatype": "FP32", "shape": [-1, a.embedDim]],
            ],
        ]
    }

    /// Triton's model configuration: what perf_analyzer and tritonclient read to shape requests.
    func configuration(_ model: OIPModel) -> [String: Any] {
        let a = model.served.bundle.model.architecture
        let settings = model.served.worker.settings
        let input: [String: Any] = model.takesImages
            ? ["name": "image", "data_type": "TYPE_STRING", "dims": [1]]
            : ["name": "input", "data_type": "TYPE_FP32", "format": "FORMAT_NCHW", "dims": [a.inChannels, -1, -1]]
        let gpu = model.served.bundle.backend.name.hasPrefix("cuda")
        return [
            "name": model.name, "platform": "fastvim_\(a.family.rawValue)", "backend": "fastvim",
            "version_policy": ["latest": ["num_versions": 1]],
            "max_batch_size": settings.maxBatch,
            "input": [input],
            "output": [
                ["name": "logits", "data_type": "TYPE_FP32", "dims": [a.numClasses]],
                ["name": "probabilities", "data_type": "TYPE_FP32", "dims": [a.numClasses]],
                ["name": "features", "data_type": "TYPE_FP32", "dims": [a.embedDim]],
            ],
            "dynamic_batching": [
                "preferred_batch_size": [settings.maxBatch],
                "max_queue_delay_microseconds": Int(settings.maxQueueDelaySeconds * 1e6),
                "default_queue_policy": ["max_queue_size": settings.maxQueue],
            ],
            "instance_group": [["name": model.name, "kind": gpu ? "KIND_GPU" : "KIND_CPU", "count": 1]],
        ]
    }

    /// The repository extension's index: every model name, version 1, ready.
    func repositoryIndex(_ request: HTTPRequest, _ r: Reply) {
        if !request.body.isEmpty {
            guard let body = try? StrictJSON.parse(request.body).object, body.keys.allSatisfy({ $0 == "ready" }),
                  body["ready"].map({ $0.bool != nil }) ?? true
            else { return r.fail(.badRequest("the index request takes an optional {\"ready\": boolean}")) }
        }
        var entries: [[String: Any]] = []
        var listed: Set<String> = []
        for (name, version, state) in store.index() {
            let served = store.model(named: name, version: version)
            let names = [name] + (served?.bundle.acceptsImages == true ? [name + OIPModel.imageSuffix] : [])
            for n in names {
                var entry: [String: Any] = ["name": n, "version": String(version), "state": isReady || state.state != "READY" ? state.state : "UNAVAILABLE"]
                if !state.reason.isEmpty { entry["reason"] = state.reason }
                entries.append(entry)
                listed.insert(n)
            }
        }
        // Repository models never loaded: listed without a version, as Triton does.
        for name in repository?.modelNames() ?? [] where !listed.contains(name) {
            entries.append(["name": name, "state": "UNAVAILABLE", "reason": "not loaded"])
        }
        r.jsonArray(200, entries)
    }

    /// The repository extension's load and unload: 400 unless models come from a repository
    /// under explicit model control (Triton's rule; `poll` and `none` own their models).
    func repositoryControl(_ request: HTTPRequest, _ r: Reply, model name: String, load: Bool) {
        guard let repository, repository.mode == .explicit else {
            return r.fail(.badRequest("model load and unload need --model-repository with --model-control-mode explicit"))
        }
        if !request.body.isEmpty {
            guard let body = try? StrictJSON.parse(request.body).object, body.keys.allSatisfy({ $0 == "parameters" }),
                  body["parameters"].map({ $0.object != nil }) ?? true
            else { return r.fail(.badRequest("the \(load ? "load" : "unload") request takes an optional {\"parameters\": {...}}")) }
        }
        // Loading builds a model (seconds): not on the loop, and one at a time.
        Thread.detachNewThread { [self] in
            do {
                if load { try repository.load(name) } else { try repository.unload(name) }
                r.send(HTTPResponse(status: 200, headers: [("content-type", "application/json")], body: Array("{}".utf8)))
            } catch {
                let message = "\(error)"
                r.fail(message.contains("not loaded") || message.contains("no model") ? .notFound(message) : .badRequest(message))
            }
        }
    }

    /// SageMaker's POST /invocations: an OIP JSON request, or an image, for the default model.
    func invocations(_ request: HTTPRequest, _ r: Reply) {
        let type = request.header("content-type")?.lowercased() ?? ""
        if type.hasPrefix("application/json") || request.header("inference-header-content-length") != nil {
            withDefaultModel(r) { infer(request, r, model: OIPModel(served: $0, takesImages: false)) }
        } else {
            withDefaultModel(r) { classify(request, r, model: $0, embed: false) }
        }
    }

    func infer(_ request: HTTPRequest, _ r: Reply, model view: OIPModel) {
        let model = view.served
        let deadline: UInt64?
        do {
            deadline = try self.deadline(for: request)
        } catch {
            return reject(r, model: model, error)
        }
        armDeadline(deadline, r, model: model)
        let bundle = model.bundle
        // Decoding (JSON, base64, tensor conversion) runs on the pool: the loop only moves bytes.
        decodePool.addOperation { [self] in
            guard !r.isFinished else { return }
            let decodeStart = Clock.now()
            let parsed: OIPInferRequest
            var images = 0, height = 0, width = 0
            var input: [Float] = []
            do {
                var body = request.body
                if let coding = try ContentCoding.of(request.header("content-encoding")) {
                    body = try coding.decode(body, limit: server?.configuration.maxBodyBytes ?? 16 << 20)
                }
                parsed = try OIPInferRequest(body: body, headerLength: request.header("inference-header-content-length"),
                                             limits: inputLimits(model), modelName: view.name)
                if view.takesImages, case .tensor = parsed.input {
                    throw ServingError.badRequest("model \(view.name) takes BYTES images (input \"image\"); send tensors to \(model.name)")
                }
                switch parsed.input {
                case let .tensor(values, shape, scaled):
                    (images, height, width, input) = (shape[0], shape[2], shape[3], values)
                    if scaled { bundle.normalization.apply(&input, planeSize: height * width) }
                case let .images(encoded):
                    (images, height, width) = (encoded.count, bundle.inputHeight, bundle.inputWidth)
                    input = [Float](repeating: 0, count: images * bundle.imageFloats)
                    for (i, bytes) in encoded.enumerated() {
                        do {
                            try input.withUnsafeMutableBufferPointer { (p) throws(ImageError) in
                                try bundle.pipeline.run(bytes, into: p.baseAddress! + i * bundle.imageFloats)
                            }
                        } catch {
                            let e = ServingError(error)
                            throw e.status == 400 ? ServingError.badRequest("image \(i): \(e.message)") : e
                        }
                    }
                }
            } catch {
                return reject(r, model: model, error)
            }
            let decodeSeconds = Double(Clock.now() - decodeStart) / 1e9
            metrics.decode(seconds: decodeSeconds, model: model.name)
            let count = images
            let job = InferenceJob(images: images, height: height, width: width, input: input, deadline: deadline,
                                   isCancelled: { r.isFinished }) { [self] result in
                switch result {
                case let .success(out):
                    metrics.queue(seconds: Double(out.queueNanoseconds) / 1e9, model: model.name)
                    do {
                        try out.checkFinite()
                        r.send(parsed.response(model: view, output: out, images: count))
                    } catch {
                        reject(r, model: model, error)
                    }
                case let .failure(failure):
                    reject(r, model: model, failure)
                }
            }
            submit(job, to: model, r)
        }
    }

    /// What an infer request to this model may hold, checked before its data is read.
    func inputLimits(_ model: ServedModel) -> OIPInputLimits {
        let bundle = model.bundle
        return OIPInputLimits(channels: bundle.model.architecture.inChannels, acceptsImages: bundle.acceptsImages) {
            (images, height, width) throws(ServingError) in
            do {
                try model.worker.admit(images: images, height: height, width: width)
            } catch {
                throw ServingError(error)
            }
        }
    }
}

extension OIPInferRequest {
    /// One output tensor of the answer: FP32 values or BYTES strings.
    enum OutputData {
        case floats([Float])
        case strings([String])
    }

    /// The answer: JSON, or the binary extension (a JSON header, then each binary output's
    /// bytes: FP32 little-endian, BYTES as 4-byte little-endian lengths and contents) when
    /// an output asks for binary data or the request set `binary_data_output`.
    func response(model view: OIPModel, output: InferenceOutput, images: Int) -> HTTPResponse {
        let bundle = view.served.bundle
        let classes = bundle.model.architecture.numClasses
        let d = bundle.model.architecture.embedDim
        // No outputs named: every output, as the protocol says (encoders without a head: features only).
        let wanted = outputs ?? OutputName.allCases.filter { classes > 0 || $0 == .features }.map { RequestedOutput(name: $0, classification: nil) }
        var results: [[String: Any]] = []
        var binary: [UInt8] = []
        for o in wanted {
            var entry: [String: Any] = ["name": o.name.rawValue]
            let data: OutputData
            if let k = o.classification, classes > 0 {
                var strings: [String] = []
                for i in 0 ..< images {
                    let row = output.logits[i * classes ..< (i + 1) * classes]
                    for c in Ranking.topK(row, k: min(k, classes), labels: bundle.labels) {
                        let score = o.name == .logits ? Double(row[row.startIndex + c.index]) : c.probability
                        strings.append("\(score):\(c.index)" + (bundle.labels != nil ? ":\(c.label)" : ""))
                    }
                }
                (entry["datatype"], entry["shape"], data) = ("BYTES", [images, min(k, classes)], .strings(strings))
            } else {
                switch o.name {
                case .features:
                    (entry["datatype"], entry["shape"], data) = ("FP32", [images, d], .floats(output.features))
                case .probabilities:
                    var p: [Float] = []
                    for i in 0 ..< images { p += Ranking.softmax(output.logits[i * classes ..< (i + 1) * classes]).map(Float.init) }
                    (entry["datatype"], entry["shape"], data) = ("FP32", [images, classes], .floats(p))
                case .logits:
                    (entry["datatype"], entry["shape"], data) = ("FP32", [images, classes], .floats(output.logits))
                }
            }
            if o.binary ?? binaryOutputs {
                let start = binary.count
                switch data {
                case let .floats(values):
                    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { binary += $0 } }
                case let .strings(values):
                    for v in values {
                        withUnsafeBytes(of: UInt32(v.utf8.count).littleEndian) { binary += $0 }
                        binary += Array(v.utf8)
                    }
                }
                entry["parameters"] = ["binary_data_size": binary.count - start]
            } else {
                switch data {
                case let .floats(values): entry["data"] = values.map(Double.init)
                case let .strings(values): entry["data"] = values
                }
            }
            results.append(entry)
        }
        var body: [String: Any] = ["model_name": view.name, "model_version": String(view.served.version), "outputs": results]
        if let id { body["id"] = id }
        var response = Reply.jsonResponse(200, body)
        guard !binary.isEmpty, response.status == 200 else { return response }
        response.headers = [("content-type", "application/octet-stream"), ("inference-header-content-length", String(response.body.count))]
        response.body += binary
        return response
    }
}

extension InferenceOutput {
    /// A non-finite logit or feature has no valid answer: a 500 that says so, never `{}`.
    func checkFinite() throws(ServingError) {
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteOutput("logit \(bad) is \(logits[bad])")
        }
        if let bad = features.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteOutput("feature \(bad) is \(features[bad])")
        }
    }
}
