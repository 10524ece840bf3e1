import KubeHeroTestSupport
import Foundation
import Hummingbird
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroPKI
import Testing
import Yams

/// The REST API over real TLS: registry rules, auth, and errors that name the bad field.
@Suite("REST API")
struct RESTAPITests {
    /// Runs `body`, expecting the hub to answer with `status` and a message naming the field.
    static func expectHubError(_ body: () async throws -> Void, status: Int, field: String? = nil, contains: String) async {
        do {
            try await body()
            Issue.record("expected an error with status \(status)")
        } catch let error as HubError {
            #expect(error.status == status, "\(error)")
            if let field { #expect(error.detail?.field == field, "\(error)") }
            #expect(error.description.contains(contains), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("cluster names and labels follow Kubernetes rules, and duplicates are refused")
    func clusterRegistryRules() async throws {
        try await withTestHub { hub in
            _ = try await hub.registerCluster("prod-us-east-1", labels: ["env": "prod"])
            let (_, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "x")
            try await hub.withClient { client in
                await Self.expectHubError({ _ = try await client.createCluster(.init(name: "prod-us-east-1", cloud: .aws, region: "us-east-1", csr: csr)) },
                                          status: 409, contains: "already exists")
                await Self.expectHubError({ _ = try await client.createCluster(.init(name: "Prod_East", cloud: .aws, region: "us-east-1", csr: csr)) },
                                          status: 400, field: "name", contains: "Prod_East")
                await Self.expectHubError({ _ = try await client.createCluster(.init(name: "ok", cloud: .aws, region: "us-east-1", labels: ["env": "not ok!"], csr: csr)) },
                                          status: 400, field: "labels[env]", contains: "not ok!")
                await Self.expectHubError({ _ = try await client.createCluster(.init(name: "ok", cloud: .aws, region: "us-east-1", csr: "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n")) },
                                          status: 400, field: "csr", contains: "csr")
                await Self.expectHubError({ _ = try await client.createCluster(.init(name: "ok", cloud: .aws, region: "us-east-1", csr: csr, validityDays: 0)) },
                                          status: 400, field: "validityDays", contains: "validityDays")
                let clusters = try await client.listClusters()
                #expect(clusters.map(\.name) == ["prod-us-east-1"], "failed registrations leave nothing behind")
                #expect(clusters.first?.labels == ["env": "prod"])
            }
        }
    }

    @Test("a removed cluster's name can be registered again")
    func nameReusableAfterRemoval() async throws {
        try await withTestHub { hub in
            _ = try await hub.registerCluster("c1")
            _ = try await hub.withClient { try await $0.removeCluster("c1") }
            try await hub.withClient { client in
                await Self.expectHubError({ _ = try await client.getCluster("c1") }, status: 404, contains: "c1")
            }
            _ = try await hub.registerCluster("c1")
            let names = try await hub.withClient { try await $0.listClusters().map(\.name) }
            #expect(names == ["c1"])
        }
    }

    @Test("requests without a valid token are refused")
    func authentication() async throws {
        try await withTestHub { hub in
            try await hub.withClient(token: "khp_000000000000_wrong") { client in
                await Self.expectHubError({ _ = try await client.listClusters() }, status: 401, contains: "token")
            }
        }
    }

    @Test("bad query parameters are refused naming the parameter", arguments: [
        ("window=abc", "window"), ("window=7x", "window"), ("step=30s", "step"), ("aggregate=label:", "aggregate"),
        ("namepsace=payments", "namepsace"), ("window=2026-01-02T00:00:00Z,2026-01-01T00:00:00Z", "window"),
        ("window=1h&window=2h", "window"),
    ])
    func badQueryParameters(query: String, field: String) async throws {
        try await withTestHub { hub in
            let (status, body) = try await Self.rawGet(hub, path: "/v1/costs?\(query)")
            #expect(status == 400)
            let error = try JSONDecoder().decode(APIErrorBody.self, from: Data(body.utf8))
            #expect(error.error.field == field, "\(body)")
        }
    }

    @Test("unknown endpoints answer JSON 404")
    func unknownEndpoint() async throws {
        try await withTestHub { hub in
            let (status, body) = try await Self.rawGet(hub, path: "/v1/nope")
            #expect(status == 404)
            let error = try JSONDecoder().decode(APIErrorBody.self, from: Data(body.utf8))
            #expect(error.error.code == "not_found")
        }
    }

    @Test("healthz, readyz and metrics answer without a token")
    func operationalEndpoints() async throws {
        try await withTestHub { hub in
            #expect(try await Self.rawGet(hub, path: "/healthz", token: nil).0 == 200)
            #expect(try await Self.rawGet(hub, path: "/readyz", token: nil).0 == 200)
            let (status, metrics) = try await Self.rawGet(hub, path: "/metrics", token: nil)
            #expect(status == 200)
            #expect(metrics.contains("# TYPE kubehero_ingest_samples_total counter"))
        }
    }

    @Test("every route the hub serves is in docs/openapi.yaml, and every documented path is served")
    func openAPIMatchesRoutes() async throws {
        let served = try await withTestHub { hub in
            Set(buildRouter(hub.hub.services).routes.map { route in
                let path = "\(route.path)".split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                return "\(route.method) /" + path.joined(separator: "/")
            })
        }
        let text = try String(contentsOfFile: TestHub.repositoryRoot + "/docs/openapi.yaml", encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, value) in paths {
            for method in (value as? [String: Any] ?? [:]).keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        #expect(documented == served, "documented only: \(documented.subtracting(served).sorted()); served only: \(served.subtracting(documented).sorted())")
    }

    /// A GET over TLS with the hub's CA, returning status and body, via the CLI's HTTP client.
    static func rawGet(_ hub: TestHub, path: String, token: String? = "admin") async throws -> (Int, String) {
        let client = try HubClient(baseURL: hub.apiURL, token: token == nil ? nil : hub.adminToken, caFile: hub.caFile)
        do {
            let r = try await client.raw(method: "GET", path: path)
            try await client.shutdown()
            return r
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
