import Foundation
import Testing
import TestSupport

extension ServerTests {
    /// The OpenAPI document in the repository is the one the server serves, and every
    /// operation it lists is a route the server has (never "no route" or 405).
    @Suite struct OpenAPI {
        @Test func documentMatchesTheRoutes() throws {
            let file = Fixtures.repository + "/Sources/FastVimServing/Resources/openapi.json"
            let text = try Data(contentsOf: URL(fileURLWithPath: file))
            let document = try #require(try JSONSerialization.jsonObject(with: text) as? [String: Any])
            #expect(document["openapi"] as? String == "3.0.3")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            try withServer(Paths.smallModelArgs() + ["--enable-benchmark"]) { s in
                let served = try curl([s.base + "/openapi.json"])
                #expect(served.status == 200 && served.body == text, "GET /openapi.json is not the repository's document")
                for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
                    let path = template.replacingOccurrences(of: "{model}", with: "small")
                        .replacingOccurrences(of: "{name}", with: "small").replacingOccurrences(of: "{version}", with: "1")
                    for method in operations.keys.sorted() {
                        var args = ["-X", method.uppercased(), "--max-time", "20"]
                        if method == "post" { args += ["--data-binary", "{}"] }
                        if path == "/v1/benchmark" { args.append(s.base + path + "?models=small&resolutions=32&iterations=1&warmup=0") } else {
                            args.append(s.base + path)
                        }
                        let r = try curl(args, timeout: 60)
                        #expect(r.status != 405 && !(r.status == 404 && r.text.contains("no route")),
                                "\(method.uppercased()) \(template): \(r.status) \(r.text.prefix(200))")
                        if method == "options" {
                            #expect(r.status == 204 && r.headers["allow"] != nil, "OPTIONS \(template): \(r.status)")
                            let documented = Set(operations.keys.map { $0.uppercased() }).union(operations["get"] != nil ? ["HEAD"] : [])
                            let allowed = Set((r.headers["allow"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                            #expect(allowed == documented, "\(template): Allow \(allowed.sorted()) but the document lists \(documented.sorted())")
                        }
                    }
                }
            }
        }
    }
}
