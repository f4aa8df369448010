import FastVimEngine
import FastVimHTTP
import FastVimImages
import Foundation

extension ServingApp {
    /// POST /v1/classify and /v1/embed: decode on the pool, batch, answer JSON. RGB models
    /// take one image; channel models one grayscale PNG per channel; /v1/embed with a `mask`
    /// part runs a masked encoder over the kept tokens.
    func classify(_ request: HTTPRequest, _ r: Reply, model: ServedModel, embed: Bool) {
        let bundle = model.bundle
        let a = bundle.model.architecture
        let classes = a.numClasses
        var topK = options.defaultTopK
        if !embed, let raw = request.queryValue("top_k") {
            guard let k = Int(raw), k >= 1 else { return r.error(400, "top_k must be a positive integer") }
            topK = min(k, classes)
        }
        if !embed && classes == 0 { return r.error(400, "model \(model.name) has no classification head; use /embed") }
        let k = topK
        let deadline: UInt64?
        let upload: ImageUpload
        do {
            deadline = try self.deadline(for: request)
            upload = try ImageUpload(request)
        } catch {
            return rejectInput(r, model: model, status: error.status, message: error.message)
        }
        if upload.mask != nil && !embed { return rejectInput(r, model: model, status: 400, message: "a token mask goes to /embed") }
        armDeadline(deadline, r, model: model)
        decodePool.addOperation { [self] in
            guard !r.isFinished else { return }
            let decodeStart = Clock.now()
            let input: [Float], height: Int, width: Int
            do {
                (input, height, width) = try decode(upload, bundle)
            } catch let e as UploadError {
                return rejectInput(r, model: model, status: e.status, message: e.message)
            } catch {
                return rejectInput(r, model: model, status: (error as? ImageError)?.httpStatus ?? 400, message: "\(error)")
            }
            let decodeSeconds = Double(Clock.now() - decodeStart) / 1e9
            metrics.decode(seconds: decodeSeconds)
            if upload.mask != nil {
                return maskedEmbedding(upload, input: input, height: height, width: width, model: model, r, decodeSeconds: decodeSeconds)
            }
            let job = InferenceJob(images: 1, height: height, width: width, input: input,
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
                        body["predictions"] = Ranking.topK(out.logits[...], k: k, labels: bundle.labels).map(\.json)
                    }
                    r.json(200, body)
                case let .failure(failure):
                    r.fail(failure)
                }
            }
            submit(job, to: model, r)
        }
    }

    /// The model's input tensor (C, H, W) from an upload: the RGB pipeline, or the channel
    /// PNGs scaled to [0, 1] and normalised per channel.
    private func decode(_ upload: ImageUpload, _ bundle: ModelBundle) throws -> ([Float], Int, Int) {
        if bundle.acceptsImages {
            var input = [Float](repeating: 0, count: bundle.imageFloats)
            let bytes = try upload.single()
            try input.withUnsafeMutableBufferPointer { (p) throws(ImageError) in
                try bundle.pipeline.run(bytes, into: p.baseAddress!)
            }
            return (input, bundle.inputHeight, bundle.inputWidth)
        }
        let files = try upload.channelImages(bundle.model.architecture.inChannels)
        do {
            return try bundle.channelTensor(files)
        } catch let e as BundleError {
            throw UploadError(status: 400, message: e.description)
        }
    }

    /// /v1/embed with a token mask: the masked encoder's per-token latent. Masked inputs
    /// differ from request to request, so they run on the decode thread (through the
    /// model's backend: a GPU serialises them with its batches), not the batcher.
    private func maskedEmbedding(_ upload: ImageUpload, input: [Float], height: Int, width: Int, model: ServedModel,
                                 _ r: Reply, decodeSeconds: Double) {
        let m = model.bundle.model
        let grid = Grid(height: height, width: width, patch: m.architecture.patchSize, stride: m.architecture.stride)
        do {
            guard let ids = try upload.keptTokens(positions: grid.count) else { return }
            let start = Clock.now()
            let latent = try model.bundle.backend.encodeMasked(m, input: input, batch: 1, height: height, width: width, idsKeep: ids)
            let d = m.architecture.embedDim
            r.json(200, [
                "model": model.name, "ids_keep": ids, "dimension": d, "grid": [grid.rows, grid.cols],
                "embedding": (0 ..< ids.count).map { t in latent[t * d ..< (t + 1) * d].map(Double.init) },
                "timing": ["decode_ms": decodeSeconds * 1000, "inference_ms": Double(Clock.now() - start) / 1e6],
            ])
        } catch let e as UploadError {
            rejectInput(r, model: model, status: e.status, message: e.message)
        } catch {
            rejectInput(r, model: model, status: 400, message: "\(error)")
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
