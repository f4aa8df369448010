import Foundation
import Testing
import TestSupport
@testable import FastVimServing

/// The route table and the OpenAPI document describe the same API: every route's pattern and
/// methods are documented, and every documented operation is a route.
@Suite struct RouteTableTests {
    @Test func openAPIDocumentListsExactlyTheRoutes() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(PackageResources.openapi_json)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented: [String: Set<String>] = [:]
        for (path, operations) in paths { documented[path] = Set(operations.keys.map { $0.uppercased() }) }
        var routed: [String: Set<String>] = [:]
        for route in ServingApp.routes {
            #expect(routed[route.pattern] == nil, "\(route.pattern) is declared twice")
            routed[route.pattern] = Set(route.methods + ["OPTIONS"])
        }
        #expect(Set(routed.keys) == Set(documented.keys),
                "routes only: \(Set(routed.keys).subtracting(documented.keys).sorted()); documented only: \(Set(documented.keys).subtracting(routed.keys).sorted())")
        for (pattern, methods) in routed where documented[pattern] != nil {
            #expect(documented[pattern] == methods, "\(pattern): routes \(methods.sorted()), document \(documented[pattern]?.sorted() ?? [])")
        }
    }

    @Test func literalRoutesWinOverParameters() throws {
        #expect(ServingApp.route(for: ["v2", "models", "stats"])?.0.pattern == "/v2/models/stats")
        #expect(ServingApp.route(for: ["v2", "models", "m"])?.0.pattern == "/v2/models/{model}")
        #expect(ServingApp.route(for: ["v2", "models", "m", "versions", "1", "config"])?.0.pattern == "/v2/models/{model}/versions/{version}/config")
        #expect(ServingApp.route(for: ["v2", "models", "a/b", "infer"])?.1["model"] == "a/b")
        #expect(ServingApp.route(for: ["nope"]) == nil)
    }
}

/// The README's route list is the route table, rendered: a route added or changed without
/// the README following fails here, with the block to paste.
@Suite struct READMERouteListTests {
    static func rendered() -> String {
        var lines = ["<!-- routes: generated from ServingApp.routes; checked by READMERouteListTests -->",
                     "| method | path | token scope |", "|---|---|---|"]
        for route in ServingApp.routes {
            let scope = route.scope.map(\.rawValue) ?? "none (health; `--protect-health`: metadata)"
            lines.append("| \(route.methods.joined(separator: ", ")) | `\(route.pattern)` | \(scope) |")
        }
        lines.append("<!-- end of routes -->")
        return lines.joined(separator: "\n")
    }

    @Test func readmeListsTheRouteTable() throws {
        let readme = try String(contentsOfFile: Fixtures.repository + "/README.md", encoding: .utf8)
        let block = Self.rendered()
        #expect(readme.contains(block), "README.md lacks the current route list; paste:\n\(block)")
    }
}
