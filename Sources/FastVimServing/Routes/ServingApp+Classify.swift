import FastVimEngine
import FastVimHTTP
import FastVimImages
import Foundation

extension ServingApp {
    /// POST /v1/classify and /v1/embed: decode on the pool, batch, answer JSON.
    func classify(_ request: HTTPRequest, _ r: Reply, model: ServedModel, embed: Bool) {
        let classes = model.bundle.model.architecture.numClasses
        var topK = options.defaultTopK
        if !embed, let raw = request.queryValue("top_k") {
            guard let k = Int(raw), k >= 1 else { return r.error(400, "top_k must be a positive integer") }
            topK = min(k, classes)
        }
        if !embed && classes == 0 { return r.error(400, "model \(model.name) has no classification head; use /embed") }
        guard model.bundle.acceptsImages else {
            return r.error(400, "model \(model.name) takes \(model.bundle.model.architecture.inChannels)-channel tensors: send them to /v2/models/\(model.name)/infer as FP32 [N, C, H, W]")
        }
        let k = topK
        let deadline: UInt64?
        let image: [UInt8]
        do {
            deadline = try self.deadline(for: request)
            image = try ImageUpload.bytes(of: request)
        } catch {
            return rejectInput(r, model: model, status: error.status, message: error.message)
        }
        armDeadline(deadline, r, model: model)
        let bundle = model.bundle
        decodePool.addOperation { [self] in
            guard !r.isFinished else { return }
            let decodeStart = Clock.now()
            var input = [Float](repeating: 0, count: bundle.imageFloats)
            do {
                try input.withUnsafeMutableBufferPointer { (p) throws(ImageError) in
                    try bundle.pipeline.run(image, into: p.baseAddress!)
                }
            } catch {
                let status = (error as? ImageError)?.httpStatus ?? 400
                return rejectInput(r, model: model, status: status, message: "\(error)")
            }
            let decodeSeconds = Double(Clock.now() - decodeStart) / 1e9
            metrics.decode(seconds: decodeSeconds)
            let job = InferenceJob(images: 1, height: bundle.inputHeight, width: bundle.inputWidth, input: input,
                                   deadline: deadline, isCancelled: { r.isFinished }) { [self] result in
                switch result {
                case let .success(out):
                    metrics.queue(seconds: Double(out.queueNanoseconds) / 1e9, model: model.name)
                    var body: [String: Any] = [
                        "model": model.name,
                        "timing": [
                            "decode_ms": decodeSeconds * 1000,
                            "queue_ms": Double(out.queueNanoseconds) / 1e6,
                            "inference_ms": Double(out.inferenceNanoseconds) / 1e6,
                            "batch_size": out.batchSize,
                        ],
                    ]
                    if embed {
                        body["embedding"] = out.features.map(Double.init)
                        body["dimension"] = out.features.count
                    } else {
                        body["predictions"] = Ranking.topK(out.logits[...], k: k, labels: bundle.labels).map {
                            ["index": $0.index, "label": $0.label, "probability": $0.probability] as [String: Any]
                        }
                    }
                    r.json(200, body)
                case let .failure(failure):
                    r.fail(failure)
                }
            }
            submit(job, to: model, r)
        }
    }
}

extension ImageError {
    /// Bad input is the client's fault (4xx): unsupported formats 415, oversized 413, broken 400.
    var httpStatus: Int {
        switch self {
        case .unsupportedFormat, .unsupportedVariant: 415
        case .tooLarge: 413
        case .corrupt, .truncated: 400
        case .outOfMemory: 503
        case .invalidParameters: 500
        }
    }
}
