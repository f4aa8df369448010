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
            guard raw.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let k = Int(raw), k >= 1 else {
                return reject(r, model: model, ServingError.badRequest("top_k must be a positive integer"))
            }
            topK = min(k, classes)
        }
        if !embed && classes == 0 { return reject(r, model: model, ServingError.badRequest("model \(model.name) has no classification head; use /embed")) }
        let k = topK
        let deadline: UInt64?
        do {
            deadline = try self.deadline(for: request)
        } catch {
            return reject(r, model: model, error)
        }
        armDeadline(deadline, r, model: model)
        // Multipart parsing and decoding run on the pool: the loop only moves bytes.
        decodePool.addOperation { [self] in
            guard !r.isFinished else { return }
            let decodeStart = Clock.now()
            let upload: ImageUpload
            let input: [Float], height: Int, width: Int
            do {
                upload = try ImageUpload(request)
                if upload.mask != nil && !embed { throw ServingError.badRequest("a token mask goes to /embed") }
                (input, height, width) = try decode(upload, bundle)
            } catch {
                return reject(r, model: model, error)
            }
            let decodeSeconds = Double(Clock.now() - decodeStart) / 1e9
            metrics.decode(seconds: decodeSeconds, model: model.name)
            if upload.mask != nil {
                return maskedEmbedding(upload, input: input, height: height, width: width, model: model, r, decodeSeconds: decodeSeconds)
            }
            let job = InferenceJob(images: 1, height: height, width: width, input: input,
                                   deadline: deadline, isCancelled: { r.isFinished }) { [self] result in
                switch result {
                case let .success(out):
                    metrics.queue(seconds: Double(out.queueNanoseconds) / 1e9, model: model.name)
                    do { try out.checkFinite() } catch { return reject(r, model: model, error) }
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
                    reject(r, model: model, failure)
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
            throw ServingError.badRequest(e.description)
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
            guard let ids = try upload.keptTokens(rows: grid.rows, cols: grid.cols) else { return }
            let start = Clock.now()
            let latent: [Float]
            do {
                latent = try model.bundle.backend.encodeMasked(m, input: input, batch: 1, height: height, width: width, idsKeep: ids)
            } catch {
                throw ServingError.backendFailure("\(error)")
            }
            // Masked passes skip the batcher (no queue), but count as inference like any other.
            metrics.batch(size: 1, seconds: Double(Clock.now() - start) / 1e9, model: model.name)
            metrics.queue(seconds: 0, model: model.name)
            if let bad = latent.firstIndex(where: { !$0.isFinite }) {
                throw ServingError.nonFiniteOutput("latent value \(bad) is \(latent[bad])")
            }
            let d = m.architecture.embedDim
            r.json(200, [
                "model": model.name, "ids_keep": ids, "dimension": d, "grid": [grid.rows, grid.cols],
                "embedding": (0 ..< ids.count).map { t in latent[t * d ..< (t + 1) * d].map(Double.init) },
                "timing": ["decode_ms": decodeSeconds * 1000, "inference_ms": Double(Clock.now() - start) / 1e6],
            ])
        } catch {
            reject(r, model: model, error)
        }
    }
}
