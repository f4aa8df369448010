import Foundation
import Testing
import TestSupport

extension ServerTests {
    /// Channel models through multipart channel PNGs and UINT16 OIP tensors; masked
    /// encoders through /v1/embed with a mask.
    @Suite struct ChannelsAndMasks {
        static func args() throws -> [String] {
            try ["--checkpoint", Fixtures.path("fastchannelvim_small.ckpt"), "--model", "mask=" + Fixtures.path("fastmaskvim_small.ckpt")]
        }

        @Test func channelImagesAndTensorsAgree() throws {
            let dir = Paths.tempDir("channels")
            var values: [[Int]] = []
            var form: [String] = []
            for c in 0 ..< 8 {
                let v = (0 ..< 64 * 64).map { ($0 * 7919 + c * 104_729) % 65536 }
                values.append(v)
                let path = dir + "/c\(c).png"
                write(TestPNG.gray(width: 64, height: 64, samples: v, sixteenBit: true), to: path)
                form += ["-F", "channel\(c)=@\(path)"]
            }
            try withServer(Self.args()) { s in
                let classify = try curl(form + [s.base + "/v1/classify?top_k=16"])
                #expect(classify.status == 200, "\(classify.text.prefix(300))")
                let predictions = try #require(try classify.json()["predictions"] as? [[String: Any]])
                var fromImages = [Double](repeating: 0, count: 16)
                for p in predictions { fromImages[p["index"] as! Int] = p["probability"] as! Double }

                // The same samples as a UINT16 tensor [1, 8, 64, 64] through OIP v2.
                let body: [String: Any] = ["inputs": [["name": "input", "datatype": "UINT16", "shape": [1, 8, 64, 64], "data": values.flatMap { $0 }]]]
                let jsonPath = dir + "/infer.json"
                try JSONSerialization.data(withJSONObject: body).write(to: URL(fileURLWithPath: jsonPath))
                let infer = try curl(["--data-binary", "@" + jsonPath, s.base + "/v2/models/fastchannelvim_small/infer"])
                #expect(infer.status == 200, "\(infer.text.prefix(300))")
                let outputs = try #require(try infer.json()["outputs"] as? [[String: Any]])
                let probabilities = try #require(outputs.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double])
                for (a, b) in zip(fromImages, probabilities) { #expect(abs(a - b) < 1e-6) }

                let missing = try curl(["-F", "channel0=@\(dir)/c0.png", s.base + "/v1/classify"])
                #expect(missing.status == 400 && missing.text.contains("channel7"))
                let rgb = try curl(["--data-binary", "@" + Paths.image("coffee.jpg"), s.base + "/v1/classify"])
                #expect(rgb.status == 400)
            }
        }

        @Test func maskedEmbeddingKeepsTheAskedTokens() throws {
            try withServer(Self.args()) { s in
                let url = s.base + "/v1/models/mask/embed"
                let list = try curl(["-F", "image=@" + Paths.image("coffee.jpg"), "-F", "mask=[0,5,9,100,195]", url])
                #expect(list.status == 200, "\(list.text.prefix(300))")
                let json = try list.json()
                #expect(json["ids_keep"] as? [Int] == [0, 5, 9, 100, 195])
                let embedding = try #require(json["embedding"] as? [[Double]])
                #expect(embedding.count == 5 && embedding.allSatisfy { $0.count == 64 })
                // The same tokens as a boolean grid (14 x 14 at 224 px).
                var grid = [[Bool]](repeating: [Bool](repeating: false, count: 14), count: 14)
                for id in [0, 5, 9, 100, 195] { grid[id / 14][id % 14] = true }
                let gridJSON = String(decoding: try JSONSerialization.data(withJSONObject: grid), as: UTF8.self)
                let fromGrid = try curl(["-F", "image=@" + Paths.image("coffee.jpg"), "-F", "mask=\(gridJSON)", url])
                #expect(try fromGrid.json()["embedding"] as? [[Double]] == embedding)
                #expect(try curl(["-F", "image=@" + Paths.image("coffee.jpg"), "-F", "mask=[0,196]", url]).status == 400)
                #expect(try curl(["-F", "image=@" + Paths.image("coffee.jpg"), "-F", "mask=[3,3]", url]).status == 400)
                #expect(try curl(["-F", "image=@" + Paths.image("coffee.jpg"), "-F", "mask=[1]", s.base + "/v1/models/mask/classify"]).status == 400)
            }
        }
    }
}
