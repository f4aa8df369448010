import FastVimHTTP

/// One route, declared once: its path pattern (which is also its metrics label and its path
/// in the OpenAPI document), its methods, and its handler. Routing, 405 with `Allow`,
/// OPTIONS and metrics labels all read the same table.
struct Route {
    enum Segment: Equatable {
        case literal(String)
        case parameter(String)
    }

    let pattern: String
    let segments: [Segment]
    /// As declared; GET implies HEAD, and every route answers OPTIONS.
    let methods: [String]
    /// The token scope the route needs; nil for health and readiness (open for probes
    /// unless `--protect-health`, then any token with the metadata scope).
    let scope: Scope?
    let handler: @Sendable (ServingApp, HTTPRequest, [String: String], Reply) -> Void

    init(_ methods: [String], _ pattern: String, _ scope: Scope?,
         _ handler: @escaping @Sendable (ServingApp, HTTPRequest, [String: String], Reply) -> Void) {
        self.pattern = pattern
        self.methods = methods
        self.scope = scope
        self.handler = handler
        segments = pattern.split(separator: "/").map { s in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(String(s))
        }
    }

    var allowed: [String] { (methods.contains("GET") ? methods + ["HEAD"] : methods) + ["OPTIONS"] }

    /// The path parameters when `path` matches this pattern.
    func match(_ path: [String]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, path) {
            switch segment {
            case let .literal(text): if text != part { return nil }
            case let .parameter(name): parameters[name] = part
            }
        }
        return parameters
    }

    var literalCount: Int { segments.filter { if case .literal = $0 { true } else { false } }.count }
}

extension ServingApp {
    /// Every route of the server. OIP model routes come in two forms, with and without
    /// `/versions/{version}`.
    static let routes: [Route] = {
        var table: [Route] = [
            Route(["GET"], "/metrics", .metadata) { app, _, _, r in app.serveMetrics(r) },
            Route(["GET"], "/openapi.json", .metadata) { _, _, _, r in
                r.send(HTTPResponse(status: 200, headers: [("content-type", "application/json")], body: PackageResources.openapi_json))
            },
            Route(["GET"], "/v1/benchmark", .admin) { app, request, _, r in app.benchmark(request, r) },
            Route(["GET"], "/v1/models", .metadata) { app, _, _, r in r.json(200, ["models": app.models.map(\.summary)]) },
            Route(["POST"], "/v1/classify", .inference) { app, request, _, r in app.withDefaultModel(r) { app.classify(request, r, model: $0, embed: false) } },
            Route(["POST"], "/v1/embed", .inference) { app, request, _, r in app.withDefaultModel(r) { app.classify(request, r, model: $0, embed: true) } },
            Route(["POST"], "/v1/models/{name}/classify", .inference) { app, request, p, r in
                app.withModel(p["name"], r) { app.classify(request, r, model: $0, embed: false) }
            },
            Route(["POST"], "/v1/models/{name}/embed", .inference) { app, request, p, r in
                app.withModel(p["name"], r) { app.classify(request, r, model: $0, embed: true) }
            },
            Route(["GET"], "/v2", .metadata) { _, _, _, r in r.json(200, ServingApp.serverMetadata) },
            Route(["GET"], "/v2/health/live", nil) { _, _, _, r in r.json(200, ["live": true]) },
            Route(["GET"], "/v2/health/ready", nil) { app, _, _, r in app.readiness(r) },
            Route(["GET"], "/v2/models/stats", .metadata) { app, _, _, r in r.json(200, ["model_stats": app.oipModels.map(app.statistics)]) },
            Route(["POST"], "/v2/repository/index", .admin) { app, request, _, r in app.repositoryIndex(request, r) },
            Route(["POST"], "/v2/repository/models/{model}/load", .admin) { app, request, p, r in
                app.repositoryControl(request, r, model: p["model"] ?? "", load: true)
            },
            Route(["POST"], "/v2/repository/models/{model}/unload", .admin) { app, request, p, r in
                app.repositoryControl(request, r, model: p["model"] ?? "", load: false)
            },
            // SageMaker's container contract, on the same port.
            Route(["GET"], "/ping", nil) { app, _, _, r in app.readiness(r) },
            Route(["POST"], "/invocations", .inference) { app, request, _, r in app.invocations(request, r) },
        ]
        for prefix in ["/v2/models/{model}", "/v2/models/{model}/versions/{version}"] {
            table += [
                Route(["GET"], prefix, .metadata) { app, _, p, r in app.withOIPModel(p, r) { r.json(200, app.metadata($0)) } },
                Route(["GET"], prefix + "/ready", nil) { app, _, p, r in app.versionReadiness(p, r) },
                Route(["GET"], prefix + "/config", .metadata) { app, _, p, r in app.withOIPModel(p, r) { r.json(200, app.configuration($0)) } },
                Route(["GET"], prefix + "/stats", .metadata) { app, _, p, r in
                    app.withOIPModel(p, r) { r.json(200, ["model_stats": [app.statistics($0)]]) }
                },
                Route(["POST"], prefix + "/infer", .inference) { app, request, p, r in app.withOIPModel(p, r) { app.infer(request, r, model: $0) } },
            ]
        }
        return table
    }()

    /// The route a path belongs to: the one with the most literal segments among those
    /// that match (`/v2/models/stats` before `/v2/models/{model}`).
    static func route(for segments: [String]) -> (Route, [String: String])? {
        var best: (Route, [String: String])?
        for route in routes {
            guard let parameters = route.match(segments) else { continue }
            if best == nil || route.literalCount > best!.0.literalCount { best = (route, parameters) }
        }
        return best
    }

    func withModel(_ name: String?, _ r: Reply, _ body: (ServedModel) -> Void) {
        guard let name, let m = model(named: name) else { return r.fail(.notFound("no model named \(name ?? "")")) }
        body(m)
    }
}
