import FastVimEngine
import FastVimHTTP
import FastVimImages
import Foundation

/// Open Inference Protocol v2 (KServe / Triton): health, metadata, and `infer` taking an
/// FP32 tensor [N, 3, H, W] or BYTES-encoded images, in JSON or with the binary extension.
extension ServingApp {
    static let serverVersion = "0.1.0"

    func routeOIP(_ request: HTTPRequest, parts: [String], reply: (String) -> Reply,
                  allow: (String, [String], (Reply) -> Void) -> Void) {
        switch parts.count {
        case 0:
            allow("/v2", ["GET"]) {
                $0.json(200, ["name": "fastvim-serve", "version": Self.serverVersion,
                              "extensions": ["classification", "binary_tensor_data", "statistics"]])
            }
        case 2 where parts == ["health", "live"]:
            allow("/v2/health/live", ["GET"]) { $0.json(200, ["live": true]) }
        case 2 where parts == ["health", "ready"]:
            allow("/v2/health/ready", ["GET"]) { [self] r in
                isReady ? r.json(200, ["ready": true]) : r.json(503, ["ready": false, "error": "server is shutting down"])
            }
        default:
            guard parts.count >= 2, parts[0] == "models" else { return reply("unknown").fail(.notFound("no route for \(request.path)")) }
            var rest = Array(parts.dropFirst(2))
            if rest.count >= 2, rest[0] == "versions" {
                guard rest[1] == "1" else { return reply("/v2/models/{m}").fail(.notFound("model \(parts[1]) has only version 1")) }
                rest.removeFirst(2)
            }
            guard let model = model(named: parts[1]) else { return reply("/v2/models/{m}").fail(.notFound("no model named \(parts[1])")) }
            switch rest {
            case []:
                allow("/v2/models/{m}", ["GET"]) { $0.json(200, metadata(model)) }
            case ["stats"]:
                allow("/v2/models/{m}/stats", ["GET"]) { $0.json(200, ["model_stats": [statistics(model)]]) }
            case ["ready"]:
                allow("/v2/models/{m}/ready", ["GET"]) { [self] r in
                    r.json(isReady ? 200 : 503, ["name": model.name, "ready": isReady])
                }
            case ["infer"]:
                allow("/v2/models/{m}/infer", ["POST"]) { infer(request, $0, model: model) }
            default:
                reply("unknown").fail(.notFound("no route for \(request.path)"))
            }
        }
    }

    /// The OIP statistics extension, from the batcher's counters.
    func statistics(_ model: ServedModel) -> [String: Any] {
        let s = model.worker.statistics.withLock { $0 }
        func entry(_ count: Int, _ ns: UInt64) -> [String: Any] { ["count": count, "ns": ns] }
        return [
            "name": model.name, "version": "1", "last_inference": s.lastInferenceMilliseconds,
            "inference_count": s.inferences, "execution_count": s.executions,
            "inference_stats": [
                "success": entry(s.successes, s.successNanoseconds), "fail": entry(s.failures, 0),
                "queue": entry(s.successes, s.queueNanoseconds), "compute_input": entry(s.executions, 0),
                "compute_infer": entry(s.executions, s.computeNanoseconds), "compute_output": entry(s.executions, 0),
            ],
        ]
    }

    func metadata(_ model: ServedModel) -> [String: Any] {
        let a = model.bundle.model.architecture
        return [
            "name": model.name, "versions": ["1"], "platform": "fastvim_\(a.family.rawValue)",
            "inputs": [
                ["name": "input", "datatype": "FP32", "shape": [-1, a.inChannels, -1, -1],
                 "parameters": ["also_accepts": ["UINT8", "UINT16"]]],
                ["name": "image", "datatype": "BYTES", "shape": [-1]],
            ],
            "outputs": [
                ["name": "logits", "datatype": "FP32", "shape": [-1, a.numClasses]],
                ["name": "probabilities", "datatype": "FP32", "shape": [-1, a.numClasses]],
                ["name": "features", "datatype": "FP32", "shape": [-1, a.embedDim]],
            ],
        ]
    }

    private func infer(_ request: HTTPRequest, _ r: Reply, model: ServedModel) {
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
                parsed = try OIPInferRequest(body: request.body, headerLength: request.header("inference-header-content-length"),
                                             limits: inputLimits(model))
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
                        r.json(200, parsed.response(model: model, output: out, images: count))
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
    func response(model: ServedModel, output: InferenceOutput, images: Int) -> [String: Any] {
        let classes = model.bundle.model.architecture.numClasses
        let d = model.bundle.model.architecture.embedDim
        let wanted = outputs ?? [RequestedOutput(name: .logits, classification: nil), RequestedOutput(name: .probabilities, classification: nil)]
        var results: [[String: Any]] = []
        for o in wanted {
            if let k = o.classification, classes > 0 {
                var data: [String] = []
                for i in 0 ..< images {
                    let row = output.logits[i * classes ..< (i + 1) * classes]
                    for c in Ranking.topK(row, k: min(k, classes), labels: model.bundle.labels) {
                        let score = o.name == .logits ? Double(row[row.startIndex + c.index]) : c.probability
                        data.append("\(score):\(c.index)" + (model.bundle.labels != nil ? ":\(c.label)" : ""))
                    }
                }
                results.append(["name": o.name.rawValue, "datatype": "BYTES", "shape": [images, min(k, classes)], "data": data])
                continue
            }
            switch o.name {
            case .features:
                results.append(["name": "features", "datatype": "FP32", "shape": [images, d], "data": output.features.map(Double.init)])
            case .probabilities:
                var p: [Double] = []
                for i in 0 ..< images { p += Ranking.softmax(output.logits[i * classes ..< (i + 1) * classes]) }
                results.append(["name": "probabilities", "datatype": "FP32", "shape": [images, classes], "data": p])
            case .logits:
                results.append(["name": "logits", "datatype": "FP32", "shape": [images, classes], "data": output.logits.map(Double.init)])
            }
        }
        var body: [String: Any] = ["model_name": model.name, "model_version": "1", "outputs": results]
        if let id { body["id"] = id }
        return body
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
