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
            guard parts.count >= 2, parts[0] == "models" else { return reply("unknown").error(404, "no route for \(request.path)") }
            var rest = Array(parts.dropFirst(2))
            if rest.count >= 2, rest[0] == "versions" {
                guard rest[1] == "1" else { return reply("/v2/models/{m}").error(404, "model \(parts[1]) has only version 1") }
                rest.removeFirst(2)
            }
            guard let model = model(named: parts[1]) else { return reply("/v2/models/{m}").error(404, "no model named \(parts[1])") }
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
                reply("unknown").error(404, "no route for \(request.path)")
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
        let parsed: OIPRequest
        let deadline: UInt64?
        do {
            parsed = try OIPRequest(request)
            deadline = try self.deadline(for: request)
        } catch {
            return rejectInput(r, model: model, status: error.status, message: error.message)
        }
        armDeadline(deadline, r, model: model)
        let bundle = model.bundle
        decodePool.addOperation { [self] in
            guard !r.isFinished else { return }
            var images = 0, height = 0, width = 0
            var input: [Float] = []
            switch parsed.input {
            case let .tensor(values, shape, scaled):
                guard shape.count == 4, shape[1] == bundle.model.architecture.inChannels, shape.allSatisfy({ $0 > 0 }),
                      shape[0] <= 64, shape[2] <= 4096, shape[3] <= 4096
                else {
                    return r.error(400, "FP32 input must have shape [N, \(bundle.model.architecture.inChannels), H, W] with N <= 64 and H, W <= 4096; got \(shape)")
                }
                (images, height, width, input) = (shape[0], shape[2], shape[3], values)
                if scaled { bundle.normalization.apply(&input, planeSize: height * width) }
            case .images where !bundle.acceptsImages:
                return r.error(400, "model \(model.name) takes \(bundle.model.architecture.inChannels)-channel FP32 tensors, not encoded images")
            case let .images(encoded):
                guard !encoded.isEmpty, encoded.count <= 64 else { return r.error(400, "BYTES input needs 1 to 64 images") }
                (images, height, width) = (encoded.count, bundle.inputHeight, bundle.inputWidth)
                input = [Float](repeating: 0, count: images * bundle.imageFloats)
                for (i, bytes) in encoded.enumerated() {
                    do {
                        try input.withUnsafeMutableBufferPointer { (p) throws(ImageError) in
                            try bundle.pipeline.run(bytes, into: p.baseAddress! + i * bundle.imageFloats)
                        }
                    } catch {
                        return rejectInput(r, model: model, status: (error as? ImageError)?.httpStatus ?? 400, message: "image \(i): \(error)")
                    }
                }
            }
            let count = images
            let job = InferenceJob(images: images, height: height, width: width, input: input, deadline: deadline,
                                   isCancelled: { r.isFinished }) { result in
                switch result {
                case let .success(out):
                    r.json(200, parsed.response(model: model, output: out, images: count))
                case let .failure(failure):
                    r.fail(failure)
                }
            }
            submit(job, to: model, r)
        }
    }
}

/// A parsed `infer` request.
struct OIPRequest {
    enum Input {
        /// `scaled`: UINT8/UINT16 samples already divided by their maximum; the model's
        /// per-channel mean/std still apply. FP32 tensors arrive normalised.
        case tensor([Float], shape: [Int], scaled: Bool)
        case images([[UInt8]])
    }

    struct RequestedOutput {
        let name: String
        let classification: Int?
    }

    let id: String?
    let input: Input
    let outputs: [RequestedOutput]?

    init(_ request: HTTPRequest) throws(UploadError) {
        var jsonBytes = request.body[...]
        var binary: ArraySlice<UInt8> = []
        if let raw = request.header("inference-header-content-length") {
            guard let n = Int(raw), n >= 0, n <= request.body.count else {
                throw UploadError(status: 400, message: "inference-header-content-length \(raw) does not fit the body")
            }
            jsonBytes = request.body[0 ..< n]
            binary = request.body[n...]
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(jsonBytes)), let json = object as? [String: Any] else {
            throw UploadError(status: 400, message: "the infer request is not a JSON object")
        }
        id = json["id"] as? String
        guard let inputs = json["inputs"] as? [[String: Any]], inputs.count == 1, let first = inputs.first else {
            throw UploadError(status: 400, message: "infer needs exactly one input (an FP32 tensor [N,3,H,W] or BYTES images)")
        }
        guard let datatype = first["datatype"] as? String, let shape = first["shape"] as? [Int] else {
            throw UploadError(status: 400, message: "input needs \"datatype\" and \"shape\"")
        }
        let binarySize = (first["parameters"] as? [String: Any])?["binary_data_size"] as? Int
        if let binarySize, binarySize > binary.count || binarySize < 0 {
            throw UploadError(status: 400, message: "binary_data_size \(binarySize) exceeds the \(binary.count) binary bytes sent")
        }
        let count = shape.reduce(1) { $0 * max($1, 0) }
        switch datatype {
        case "FP32":
            guard count > 0, count <= 64 * 3 * 4096 * 4096 else { throw UploadError(status: 400, message: "bad FP32 shape \(shape)") }
            var values: [Float]
            if let binarySize {
                guard binarySize == count * 4 else {
                    throw UploadError(status: 400, message: "binary_data_size \(binarySize) != 4 x \(count) elements")
                }
                values = [Float](repeating: 0, count: count)
                let start = binary.startIndex
                values.withUnsafeMutableBytes { dst in
                    binary[start ..< start + binarySize].withUnsafeBytes { dst.copyMemory(from: $0) }
                }
            } else {
                values = []
                values.reserveCapacity(count)
                guard Self.flatten(first["data"], into: &values), values.count == count else {
                    throw UploadError(status: 400, message: "FP32 data must hold \(count) numbers for shape \(shape)")
                }
            }
            input = .tensor(values, shape: shape, scaled: false)
        case "UINT8", "UINT16":
            let wide = datatype == "UINT16"
            let maxValue: Float = wide ? 65535 : 255
            guard count > 0, count <= 64 * 16 * 4096 * 4096 else { throw UploadError(status: 400, message: "bad \(datatype) shape \(shape)") }
            var values = [Float](repeating: 0, count: count)
            if let binarySize {
                guard binarySize == count * (wide ? 2 : 1) else {
                    throw UploadError(status: 400, message: "binary_data_size \(binarySize) != \(wide ? 2 : 1) x \(count) elements")
                }
                let bytes = Array(binary.prefix(binarySize))
                for i in 0 ..< count {
                    let v = wide ? Int(bytes[2 * i]) | Int(bytes[2 * i + 1]) << 8 : Int(bytes[i])
                    values[i] = Float(v) / maxValue
                }
            } else {
                var raw: [Float] = []
                raw.reserveCapacity(count)
                guard Self.flatten(first["data"], into: &raw), raw.count == count,
                      raw.allSatisfy({ $0 >= 0 && $0 <= maxValue && $0 == $0.rounded() })
                else { throw UploadError(status: 400, message: "\(datatype) data must hold \(count) integers from 0 to \(Int(maxValue))") }
                for i in 0 ..< count { values[i] = raw[i] / maxValue }
            }
            input = .tensor(values, shape: shape, scaled: true)
        case "BYTES":
            var images: [[UInt8]] = []
            if let binarySize {
                var rest = binary.prefix(binarySize)
                while !rest.isEmpty {
                    guard rest.count >= 4 else { throw UploadError(status: 400, message: "truncated BYTES element") }
                    let b = Array(rest.prefix(4))
                    let n = Int(UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24)
                    rest = rest.dropFirst(4)
                    guard n <= rest.count else { throw UploadError(status: 400, message: "BYTES element longer than the data") }
                    images.append(Array(rest.prefix(n)))
                    rest = rest.dropFirst(n)
                }
            } else {
                // JSON BYTES elements carry binary images base64-encoded.
                guard let strings = first["data"] as? [String] else {
                    throw UploadError(status: 400, message: "BYTES data must be a list of base64 strings (or use binary_data_size)")
                }
                for s in strings {
                    guard let d = Data(base64Encoded: s) else { throw UploadError(status: 400, message: "BYTES element is not base64") }
                    images.append(Array(d))
                }
            }
            guard images.count == count else { throw UploadError(status: 400, message: "shape \(shape) but \(images.count) BYTES elements") }
            input = .images(images)
        default:
            throw UploadError(status: 400, message: "unsupported datatype \(datatype): send FP32, UINT8 or UINT16 tensors, or BYTES images")
        }
        if let requested = json["outputs"] as? [[String: Any]] {
            var outs: [RequestedOutput] = []
            for o in requested {
                guard let name = o["name"] as? String, ["logits", "probabilities", "features"].contains(name) else {
                    throw UploadError(status: 400, message: "unknown output \(o["name"] ?? "?"); outputs are logits, probabilities, features")
                }
                outs.append(RequestedOutput(name: name, classification: (o["parameters"] as? [String: Any])?["classification"] as? Int))
            }
            outputs = outs
        } else {
            outputs = nil
        }
    }

    private static func flatten(_ value: Any?, into out: inout [Float]) -> Bool {
        // On Linux every JSON number is an NSNumber that also casts to Bool: do not test for Bool.
        if let n = value as? NSNumber {
            out.append(n.floatValue)
            return true
        }
        guard let list = value as? [Any] else { return false }
        for item in list { if !flatten(item, into: &out) { return false } }
        return true
    }

    func response(model: ServedModel, output: InferenceOutput, images: Int) -> [String: Any] {
        let classes = model.bundle.model.architecture.numClasses
        let d = model.bundle.model.architecture.embedDim
        let wanted = outputs ?? [RequestedOutput(name: "logits", classification: nil), RequestedOutput(name: "probabilities", classification: nil)]
        var results: [[String: Any]] = []
        for o in wanted {
            if let k = o.classification, o.name != "features", classes > 0 {
                var data: [String] = []
                for i in 0 ..< images {
                    let row = output.logits[i * classes ..< (i + 1) * classes]
                    for c in Ranking.topK(row, k: min(k, classes), labels: model.bundle.labels) {
                        let score = o.name == "logits" ? Double(row[row.startIndex + c.index]) : c.probability
                        data.append("\(score):\(c.index)" + (model.bundle.labels != nil ? ":\(c.label)" : ""))
                    }
                }
                results.append(["name": o.name, "datatype": "BYTES", "shape": [images, min(k, classes)], "data": data])
                continue
            }
            switch o.name {
            case "features":
                results.append(["name": "features", "datatype": "FP32", "shape": [images, d], "data": output.features.map(Double.init)])
            case "probabilities":
                var p: [Double] = []
                for i in 0 ..< images { p += Ranking.softmax(output.logits[i * classes ..< (i + 1) * classes]) }
                results.append(["name": "probabilities", "datatype": "FP32", "shape": [images, classes], "data": p])
            default:
                results.append(["name": "logits", "datatype": "FP32", "shape": [images, classes], "data": output.logits.map(Double.init)])
            }
        }
        var body: [String: Any] = ["model_name": model.name, "model_version": "1", "outputs": results]
        if let id { body["id"] = id }
        return body
    }
}
