import Foundation
import Testing
import TestSupport

extension ServerTests {
    /// Answers are right over HTTP/1.1 and h2c: /v1 classify/embed/models, OIP v2, metrics, errors.
    @Suite struct Correctness {
        /// FastVim-T ("t", the default model) and the small model ("small"); bodies up to 1 MiB.
        static func args() throws -> [String] {
            try Paths.tModelArgs() + Paths.smallModelArgs() + ["--max-body-bytes", String(1 << 20)]
        }

        static func expectedTop5(_ image: String) throws -> [Int] {
            let json = try #require(try Fixtures.jsonObject("expected_images.json") as? [String: [String: Any]])
            return try #require(json[image]?["top5"] as? [Int])
        }

        static func checkPredictions(_ r: CurlResponse, count: Int, top: [Int]?, _ label: String) throws {
            #expect(r.status == 200, "\(label): status \(r.status) \(r.text.prefix(300)) \(r.stderr)")
            let json = try r.json()
            #expect(json["model"] as? String == "t", "\(label): model \(json["model"] ?? "nil")")
            let predictions = try #require(json["predictions"] as? [[String: Any]], "\(label): no predictions")
            #expect(predictions.count == count, "\(label): \(predictions.count) predictions")
            let probs = predictions.compactMap { $0["probability"] as? Double }
            #expect(probs.count == count && zip(probs, probs.dropFirst()).allSatisfy { $0 >= $1 }, "\(label): probabilities not descending: \(probs)")
            #expect(probs.allSatisfy { $0 > 0 && $0 <= 1 })
            #expect(predictions.allSatisfy { ($0["label"] as? String)?.isEmpty == false }, "\(label): labels missing")
            if let top {
                let indices = predictions.compactMap { $0["index"] as? Int }
                #expect(indices == Array(top.prefix(count)), "\(label): indices \(indices), reference top5 \(top)")
            }
            let timing = try #require(json["timing"] as? [String: Any], "\(label): no timing")
            for key in ["decode_ms", "queue_ms", "inference_ms"] {
                let v = timing[key] as? Double
                #expect(v != nil && v! >= 0, "\(label): timing.\(key) = \(String(describing: timing[key]))")
            }
        }

        @Test func classifyOverHTTP1AndH2c() throws {
            try withServer(Self.args()) { s in
                let coffee = try Self.expectedTop5("coffee.jpg")
                let url = s.base + "/v1/classify"
                let h2 = try curl(["--http2-prior-knowledge", "--data-binary", "@" + Paths.image("coffee.jpg"),
                                   "-H", "content-type: image/jpeg", url])
                #expect(h2.httpVersion == "2")
                try Self.checkPredictions(h2, count: 5, top: coffee, "h2c coffee.jpg")
                #expect(h2.headers["content-type"]?.hasPrefix("application/json") == true)

                let h1 = try curl(["--http1.1", "--data-binary", "@" + Paths.image("coffee.jpg"), "-H", "content-type: image/jpeg", url])
                #expect(h1.httpVersion == "1.1")
                try Self.checkPredictions(h1, count: 5, top: coffee, "HTTP/1.1 coffee.jpg")

                let multipart = try curl(["-F", "image=@" + Paths.image("chelsea.png"), url])
                try Self.checkPredictions(multipart, count: 5, top: try Self.expectedTop5("chelsea.png"), "multipart chelsea.png")
                let multipartH2 = try curl(["--http2-prior-knowledge", "-F", "image=@" + Paths.image("chelsea.png"), url])
                try Self.checkPredictions(multipartH2, count: 5, top: try Self.expectedTop5("chelsea.png"), "h2c multipart chelsea.png")

                let top2 = try curl(["--data-binary", "@" + Paths.image("coffee.jpg"), url + "?top_k=2"])
                try Self.checkPredictions(top2, count: 2, top: coffee, "?top_k=2")

                let named = try curl(["--data-binary", "@" + Paths.image("tiny.png"), s.base + "/v1/models/small/classify?top_k=3"])
                #expect(named.status == 200)
                #expect(try named.json()["model"] as? String == "small")
                #expect((try named.json()["predictions"] as? [Any])?.count == 3)

                let embed = try curl(["--http2-prior-knowledge", "--data-binary", "@" + Paths.image("coffee.jpg"), s.base + "/v1/embed"])
                #expect(embed.status == 200, "embed: \(embed.status) \(embed.text.prefix(200))")
                let vector = try #require(try embed.json()["embedding"] as? [Double])
                #expect(vector.count == 192)
                #expect(vector.allSatisfy(\.isFinite) && vector.contains { $0 != 0 })

                let models = try curl([s.base + "/v1/models"])
                #expect(models.status == 200)
                let list = try #require(try models.json()["models"] as? [[String: Any]])
                #expect(list.compactMap { $0["name"] as? String } == ["t", "small"])
                #expect(list.first?["classes"] as? Int == 1000)
                #expect(list.allSatisfy { $0["device"] as? String == "cpu" })
            }
        }

        /// OIP v2: server/health/model metadata, infer with FP32 JSON, binary extension, BYTES, classification.
        @Test func openInferenceProtocolV2() throws {
            try withServer(Self.args()) { s in
                let root = try curl(["--http2-prior-knowledge", s.base + "/v2"])
                #expect(root.status == 200)
                #expect(try root.json()["name"] as? String == "fastvim-serve")
                #expect((try root.json()["extensions"] as? [String])?.contains("binary_tensor_data") == true)
                for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/small/ready", "/v2/models/t/versions/1/ready"] {
                    let r = try curl([s.base + path])
                    #expect(r.status == 200, "\(path): \(r.status) \(r.text)")
                }
                for path in ["/v2/models/small", "/v2/models/small/versions/1"] {
                    let meta = try curl([s.base + path])
                    #expect(meta.status == 200)
                    let json = try meta.json()
                    #expect(json["name"] as? String == "small")
                    let outputs = try #require(json["outputs"] as? [[String: Any]])
                    #expect(outputs.first { $0["name"] as? String == "logits" }?["shape"] as? [Int] == [-1, 10])
                    // One required input per model name: tensors here, encoded images under small_image.
                    #expect((json["inputs"] as? [[String: Any]])?.map { $0["name"] as? String } == ["input"])
                }
                let images = try curl([s.base + "/v2/models/small_image"]).json()
                #expect((images["inputs"] as? [[String: Any]])?.first?["datatype"] as? String == "BYTES")
                #expect(try curl([s.base + "/v2/models/nope"]).status == 404)
                #expect(try curl([s.base + "/v2/models/small/versions/2"]).status == 404)

                // FP32 tensor [1,3,64,96] as JSON, twice: same logits, probabilities sum to 1.
                let shape = [1, 3, 64, 96]
                // No element is exactly 0 or 1 here (see fp32JSONAcceptsZerosAndOnes for those).
                let values: [Float] = (0 ..< 3 * 64 * 96).map { Float(sin(Double($0) * 0.37 + 0.1) * 1.5) + 0.003 }
                let dir = Paths.tempDir("oip")
                let jsonBody: [String: Any] = ["id": "req-1", "inputs": [["name": "input", "datatype": "FP32", "shape": shape,
                                                                         "data": values.map(Double.init)]]]
                let jsonPath = dir + "/infer.json"
                try JSONSerialization.data(withJSONObject: jsonBody).write(to: URL(fileURLWithPath: jsonPath))
                func logitsOf(_ r: CurlResponse, _ label: String) throws -> [Double] {
                    #expect(r.status == 200, "\(label): \(r.status) \(r.text.prefix(300))")
                    let outputs = try #require(try r.json()["outputs"] as? [[String: Any]], "\(label): no outputs")
                    let logits = try #require(outputs.first { $0["name"] as? String == "logits" })
                    #expect(logits["shape"] as? [Int] == [1, 10], "\(label): logits shape \(logits["shape"] ?? "nil")")
                    let probs = try #require(outputs.first { $0["name"] as? String == "probabilities" })
                    #expect(probs["shape"] as? [Int] == [1, 10])
                    let p = try #require(probs["data"] as? [Double])
                    #expect(abs(p.reduce(0, +) - 1) < 1e-5, "\(label): probabilities sum to \(p.reduce(0, +))")
                    return try #require(logits["data"] as? [Double])
                }
                let url = s.base + "/v2/models/small/infer"
                let first = try curl(["--http2-prior-knowledge", "-H", "content-type: application/json", "--data-binary", "@" + jsonPath, url])
                #expect(try first.json()["id"] as? String == "req-1")
                #expect(try first.json()["model_name"] as? String == "small")
                let a = try logitsOf(first, "FP32 JSON #1")
                let b = try logitsOf(try curl(["-H", "content-type: application/json", "--data-binary", "@" + jsonPath, url]), "FP32 JSON #2")
                #expect(a == b, "same tensor twice, different logits: \(a) vs \(b)")

                // The same tensor through `fastvim logits` (the CLI path) agrees.
                let stPath = dir + "/x.safetensors"
                write(TestSafeTensors.make([("x", shape, values)]), to: stPath)
                let cli = try runCommand(Paths.binary, ["logits", "--checkpoint", Paths.small, "--config", Paths.smallConfig(),
                                                        "--input", stPath, "--tensor", "x"])
                #expect(cli.status == 0, "fastvim logits: \(cli.stderr)")
                if let json = try? JSONSerialization.jsonObject(with: cli.stdout) as? [String: Any],
                   let cliLogits = (json["logits"] as? [[Double]])?.first {
                    expectClose(a.map(Float.init), cliLogits.map(Float.init), atol: 1e-4 * max(1, maxAbs(cliLogits.map(Float.init))),
                                "OIP infer vs fastvim logits")
                } else {
                    Issue.record("fastvim logits printed no logits: \(cli.text.prefix(300))")
                }

                // Binary tensor extension: JSON header, then the FP32 little-endian bytes.
                let header: [String: Any] = ["inputs": [["name": "input", "datatype": "FP32", "shape": shape,
                                                         "parameters": ["binary_data_size": values.count * 4]]],
                                             "outputs": [["name": "logits"]]]
                let headerBytes = Array(try JSONSerialization.data(withJSONObject: header))
                var binary: [UInt8] = []
                for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { binary += $0 } }
                let binPath = dir + "/infer.bin"
                write(headerBytes + binary, to: binPath)
                let bin = try curl(["--http2-prior-knowledge", "-H", "content-type: application/octet-stream",
                                    "-H", "inference-header-content-length: \(headerBytes.count)", "--data-binary", "@" + binPath, url])
                #expect(bin.status == 200, "binary extension: \(bin.status) \(bin.text.prefix(300))")
                let binOutputs = try #require(try bin.json()["outputs"] as? [[String: Any]])
                #expect(binOutputs.count == 1)
                let binLogits = try #require(binOutputs.first?["data"] as? [Double])
                #expect(binLogits == a, "binary-extension logits differ from the JSON ones")

                // BYTES: base64 coffee.jpg on FastVim-T; top-1 equals /v1/classify's.
                let coffee = try Data(contentsOf: URL(fileURLWithPath: Paths.image("coffee.jpg")))
                let bytesBody: [String: Any] = ["inputs": [["name": "image", "datatype": "BYTES", "shape": [1],
                                                            "data": [coffee.base64EncodedString()]]]]
                let bytesPath = dir + "/bytes.json"
                try JSONSerialization.data(withJSONObject: bytesBody).write(to: URL(fileURLWithPath: bytesPath))
                let tURL = s.base + "/v2/models/t/infer"
                let tOut = try curl(["-H", "content-type: application/json", "--data-binary", "@" + bytesPath, tURL])
                #expect(tOut.status == 200, "BYTES: \(tOut.status) \(tOut.text.prefix(300))")
                let tLogits = try #require((try tOut.json()["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "logits" }?["data"] as? [Double])
                #expect(tLogits.count == 1000)
                let argmax = tLogits.indices.max { tLogits[$0] < tLogits[$1] }
                let v1 = try curl(["--data-binary", "@" + Paths.image("coffee.jpg"), s.base + "/v1/classify?top_k=1"])
                let v1Top = (try v1.json()["predictions"] as? [[String: Any]])?.first?["index"] as? Int
                #expect(argmax != nil && argmax == v1Top, "OIP BYTES top-1 \(argmax ?? -1) vs /v1/classify \(v1Top ?? -1)")
                #expect(argmax == (try Self.expectedTop5("coffee.jpg")).first)

                // Classification extension: 3 strings "score:index:label".
                var classBody = bytesBody
                classBody["outputs"] = [["name": "probabilities", "parameters": ["classification": 3]]]
                let classPath = dir + "/class.json"
                try JSONSerialization.data(withJSONObject: classBody).write(to: URL(fileURLWithPath: classPath))
                let cls = try curl(["--http2-prior-knowledge", "-H", "content-type: application/json", "--data-binary", "@" + classPath, tURL])
                #expect(cls.status == 200, "classification: \(cls.status) \(cls.text.prefix(300))")
                let out = try #require((try cls.json()["outputs"] as? [[String: Any]])?.first)
                #expect(out["datatype"] as? String == "BYTES")
                #expect(out["shape"] as? [Int] == [1, 3])
                let strings = try #require(out["data"] as? [String])
                #expect(strings.count == 3)
                let expected = try Self.expectedTop5("coffee.jpg")
                for (i, s) in strings.enumerated() {
                    let fields = s.split(separator: ":", maxSplits: 2).map(String.init)
                    #expect(fields.count == 3, "\"\(s)\" is not score:index:label")
                    guard fields.count == 3 else { continue }
                    #expect(Double(fields[0]).map { $0 > 0 && $0 <= 1 } == true, "score of \"\(s)\"")
                    #expect(Int(fields[1]) == expected[i], "index of \"\(s)\", expected \(expected[i])")
                    #expect(!fields[2].isEmpty)
                }

                // Bad infer requests are 400s with a JSON error.
                let bad = try curl(["-H", "content-type: application/json", "--data-binary", #"{"inputs": []}"#, url])
                #expect(bad.status == 400)
                #expect(try bad.json()["error"] is String)
            }
        }

        /// An FP32 tensor whose JSON data holds exact 0 and 1 values (zero padding, saturated pixels)
        /// is an ordinary tensor: it must be accepted, over HTTP/1.1 and h2c alike.
        @Test func fp32JSONAcceptsZerosAndOnes() throws {
            try withServer(Paths.smallModelArgs()) { s in
                for (label, fill) in [("all 0.5", 0.5), ("with 0 and 1", -1.0)] {
                    let data: [Double] = (0 ..< 3 * 64 * 96).map { i in fill >= 0 ? fill : Double(i % 3 == 0 ? 0 : (i % 3 == 1 ? 1 : 0.25)) }
                    let body: [String: Any] = ["inputs": [["name": "input", "datatype": "FP32", "shape": [1, 3, 64, 96], "data": data]]]
                    let path = Paths.tempDir("oip01") + "/infer.json"
                    try JSONSerialization.data(withJSONObject: body).write(to: URL(fileURLWithPath: path))
                    let r = try curl(["-H", "content-type: application/json", "--data-binary", "@" + path, s.base + "/v2/models/small/infer"])
                    #expect(r.status == 200, "FP32 JSON tensor \(label): \(r.status) \(r.text.prefix(200))")
                }
            }
        }

        @Test func errorsAndMetrics() throws {
            try withServer(Self.args()) { s in
                for h2 in [false, true] {
                    let proto = h2 ? ["--http2-prior-knowledge"] : ["--http1.1"]
                    let label = h2 ? "h2c" : "HTTP/1.1"
                    let notFound = try curl(proto + [s.base + "/nope"])
                    #expect(notFound.status == 404, "\(label) unknown path: \(notFound.status)")
                    #expect(try notFound.json()["error"] is String)

                    let method = try curl(proto + [s.base + "/v1/classify"])
                    #expect(method.status == 405, "\(label) GET /v1/classify: \(method.status)")
                    #expect(method.headers["allow"]?.contains("POST") == true, "\(label) Allow: \(method.headers["allow"] ?? "missing")")
                    #expect(try method.json()["error"] is String)

                    let gifPath = Paths.tempDir("gif") + "/x.gif"
                    write(Array("GIF89a".utf8) + [1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x21, 0xF9, 4, 1, 0, 0, 0, 0,
                                                   0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3B], to: gifPath)
                    let gif = try curl(proto + ["-H", "content-type: image/gif", "--data-binary", "@" + gifPath, s.base + "/v1/classify"])
                    #expect(gif.status == 415, "\(label) GIF: \(gif.status) \(gif.text)")
                    #expect(try gif.json()["error"] is String)

                    let empty = try curl(proto + ["-X", "POST", "-H", "content-type: image/png", s.base + "/v1/classify"])
                    #expect(empty.status == 400, "\(label) empty body: \(empty.status) \(empty.text)")

                    let garbage = try curl(proto + ["--data-binary", "\u{89}PNG\r\n\u{1A}\nthis is not a png", s.base + "/v1/classify"])
                    #expect(garbage.status == 400 || garbage.status == 415, "\(label) corrupt PNG: \(garbage.status) \(garbage.text)")

                    let badTopK = try curl(proto + ["--data-binary", "@" + Paths.image("tiny.png"), s.base + "/v1/classify?top_k=0"])
                    #expect(badTopK.status == 400)

                    let bigPath = Paths.tempDir("big") + "/big.bin"
                    write([UInt8](repeating: 0x41, count: 2 << 20), to: bigPath)
                    let big = try curl(proto + ["-H", "content-type: image/png", "--data-binary", "@" + bigPath, s.base + "/v1/classify"])
                    #expect(big.status == 413, "\(label) 2 MiB body with --max-body-bytes 1 MiB: \(big.status) curl \(big.exitCode) \(big.stderr)")
                }

                let metrics = try curl([s.base + "/metrics"])
                #expect(metrics.status == 200)
                #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true,
                        "content-type \(metrics.headers["content-type"] ?? "missing")")
                let text = metrics.text
                #expect(text.contains("# TYPE fastvim_requests_total counter"))
                #expect((metricValue(text, "fastvim_requests_total", labels: ["route": "/v1/classify", "code": "415"]) ?? 0) >= 2,
                        "415s counted:\n\(text.split(separator: "\n").filter { $0.hasPrefix("fastvim_requests_total") }.joined(separator: "\n"))")
                #expect(metricValue(text, "fastvim_requests_total", labels: ["route": "/v1/classify", "code": "405"]) == 2)
                #expect((metricValue(text, "fastvim_requests_total", labels: ["code": "404"]) ?? 0) >= 1)
            }
        }
    }
}
