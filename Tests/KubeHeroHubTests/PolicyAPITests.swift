import Foundation
import KubeHeroAudit
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroPolicy
import KubeHeroStore
import KubeHeroTestSupport
import Testing

@Suite("/v1/policies and kubehero policy")
struct PolicyAPITests {
    @Test("kubehero policy apply -f DIR reports created, then unchanged, then changed; get, list, status, arm, disarm, delete")
    func cliLifecycle() async throws {
        try await withTestHub { hub in
            let env = ["KUBEHERO_HUB": hub.apiURL, "KUBEHERO_TOKEN": hub.adminToken, "KUBEHERO_CA_FILE": hub.caFile]
            let dir = TestHub.repositoryRoot + "/policies"
            let first = try await runProductDetached("kubehero", ["policy", "apply", "-f", dir], environment: env)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.split(separator: "\n").sorted() == [
                "policy/all-prod-ceiling created", "policy/staging-sandbox-daily created", "policy/team-data-weekly created",
                "policy/team-ml created", "policy/team-search created",
            ])
            let again = try await runProductDetached("kubehero", ["policy", "apply", "-f", dir + "/team-budgets.yaml"], environment: env)
            #expect(again.stdout == "policy/team-ml unchanged\npolicy/team-search unchanged\npolicy/team-data-weekly unchanged\n")

            let changed = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString).yaml").path
            defer { try? FileManager.default.removeItem(atPath: changed) }
            let text = try String(contentsOfFile: dir + "/namespace-daily-cap.yaml", encoding: .utf8).replacingOccurrences(of: "$250/day", with: "$300/day")
            try text.write(toFile: changed, atomically: true, encoding: .utf8)
            let third = try await runProductDetached("kubehero", ["policy", "apply", "-f", changed], environment: env)
            #expect(third.stdout == "policy/staging-sandbox-daily changed\n")

            let bad = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).yaml").path
            defer { try? FileManager.default.removeItem(atPath: bad) }
            try text.replacingOccurrences(of: "$300/day", with: "500k").write(toFile: bad, atomically: true, encoding: .utf8)
            let refused = try await runProductDetached("kubehero", ["policy", "apply", "-f", bad], environment: env)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("\(bad):11: spec.ceiling: \"500k\""), "\(refused.stderr)")

            let get = try await runProductDetached("kubehero", ["policy", "get", "staging-sandbox-daily", "-o", "json"], environment: env)
            let info = try JSONDecoder().decode(PolicyInfo.self, from: Data(get.stdout.utf8))
            #expect(info.revision == 2)
            #expect(info.policy.spec.ceiling.description == "$300/day")
            #expect(info.policy.spec.thresholds == [.init(percent: 90), .init(percent: 100)])

            let arm = try await runProductDetached("kubehero", ["policy", "arm", "all-prod-ceiling"], environment: env)
            #expect(arm.stdout == "policy/all-prod-ceiling armed\n")
            let status = try await runProductDetached("kubehero", ["policy", "status", "all-prod-ceiling"], environment: env)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("all-prod-ceiling") && status.stdout.contains("$500000/mo"), "\(status.stdout)")
            #expect(try await runProductDetached("kubehero", ["policy", "disarm", "all-prod-ceiling"], environment: env).stdout == "policy/all-prod-ceiling disarmed\n")
            #expect(try await runProductDetached("kubehero", ["policy", "delete", "team-ml"], environment: env).stdout == "policy/team-ml deleted\n")
            let list = try await runProductDetached("kubehero", ["policy", "list", "-o", "json"], environment: env)
            let names = try JSONDecoder().decode(PolicyList.self, from: Data(list.stdout.utf8)).items.map(\.name)
            #expect(names == ["all-prod-ceiling", "staging-sandbox-daily", "team-data-weekly", "team-search"])

            let log = try await hub.hub.services.store.auditEntries(matching: AuditQuery()).map(\.action.rawValue).filter { $0.hasPrefix("policy.") && $0 != "policy.condition" && $0 != "policy.threshold" }
            #expect(log == Array(repeating: "policy.apply", count: 6) + ["policy.arm", "policy.disarm", "policy.delete"])
        }
    }

    @Test("the API refuses malformed documents with line and field, and a name that differs from the URL")
    func malformedDocuments() async throws {
        try await withTestHub { hub in
            try await hub.withClient { client in
                let yaml = """
                    apiVersion: kubehero.kubehero.io/v1
                    kind: BudgetPolicy
                    metadata: { name: p }
                    spec:
                      scope: { clusterSelector: { matchExpressions: [ { key: env, operator: Like, values: [x] } ] } }
                      ceiling: "$5/mo"
                    """
                let r = try await client.raw(method: "POST", path: "/v1/policies", body: Data(yaml.utf8))
                #expect(r.status == 400)
                #expect(r.body.contains("request body:5: spec.scope.clusterSelector.matchExpressions[0].operator"), "\(r.body)")
                let unknown = try await client.raw(method: "POST", path: "/v1/policies", body: Data(yaml.replacingOccurrences(of: "Like", with: "In").replacingOccurrences(of: "ceiling:", with: "ceilling:").utf8))
                #expect(unknown.status == 400)
                #expect(unknown.body.contains("request body:6: spec.ceilling: unknown field"), "\(unknown.body)")
                let mismatch = try await client.raw(method: "PUT", path: "/v1/policies/other", body: Data(yaml.replacingOccurrences(of: "Like", with: "In").utf8))
                #expect(mismatch.status == 400)
                #expect(mismatch.body.contains("metadata.name"))
                let missing = try await client.raw(method: "GET", path: "/v1/policies/nope/status")
                #expect(missing.status == 404)
                #expect(try await client.listPolicies().items.isEmpty)
            }
        }
    }

    @Test("the hub answers AdmissionReview v1 for single-cluster installs: denied in an enforced scope, allowed elsewhere")
    func hubAdmissionWebhook() async throws {
        try await withTestHub { hub in
            _ = try await hub.registerCluster("solo", labels: ["env": "prod"])
            try await Self.storeTwoDollars(in: hub, cluster: "solo")
            try await hub.withClient { client in
                _ = try await client.applyPolicy(try Self.batchCap(clusterSelector: "{}", hardStop: true))
                try await hub.hub.services.policies?.evaluate()
                func review(_ namespace: String) -> Data { Self.podReview(namespace: namespace) }
                let denied = try await client.raw(method: "POST", path: "/admission/solo/validate/pods", body: review("batch"))
                #expect(denied.status == 200)
                #expect(denied.body.contains(#""allowed":false"#) && denied.body.contains("batch-cap") && denied.body.contains(#""uid":"u-1""#), "\(denied.body)")
                let allowed = try await client.raw(method: "POST", path: "/admission/solo/validate/pods", body: review("web"))
                #expect(allowed.body.contains(#""allowed":true"#), "\(allowed.body)")
                let other = try await client.raw(method: "POST", path: "/admission/elsewhere/validate/pods", body: review("batch"))
                #expect(other.body.contains(#""allowed":true"#))
                let bad = try await client.raw(method: "POST", path: "/admission/solo/validate/pods", body: Data("{}".utf8))
                #expect(bad.status == 400)
            }
        }
    }
}

extension PolicyAPITests {
    /// $2 of CPU in namespace `batch` of `cluster` over the last minute, stored directly.
    static func storeTwoDollars(in hub: TestHub, cluster: String) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let key = ContainerKey(cluster: cluster, node: "n1", namespace: "batch", pod: "job-1", container: "app")
        _ = try await hub.hub.services.store.ingest(IngestRecord(
            cluster: cluster, agentInstanceID: "a", sequence: 1, node: "n1", receivedAtMillis: now, windowStartMillis: now - 60_000,
            windowEndMillis: now, sampleCount: 60,
            rows: [UsageRow(key: key, labels: [:], startMillis: now - 60_000, usage: Usage(), cost: Cost(cpu: Money(nanoUSD: 2_000_000_000)))]
        ))
    }

    /// `batch-cap`: $1/day over namespace `batch` of the clusters `clusterSelector` (YAML) picks.
    static func batchCap(clusterSelector: String, hardStop: Bool) throws -> BudgetPolicy {
        try BudgetPolicyParser.parse(yaml: """
            apiVersion: kubehero.kubehero.io/v1
            kind: BudgetPolicy
            metadata: { name: batch-cap }
            spec:
              scope: { clusterSelector: \(clusterSelector), namespaceSelector: { matchNames: [batch] } }
              ceiling: "$1/day"
              hardStop: \(hardStop)
              humanArm: false
            """, source: "test")
    }

    /// An AdmissionReview v1 for creating a pod in `namespace`.
    static func podReview(namespace: String) -> Data {
        Data(#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"\#(namespace)","operation":"CREATE","object":{"metadata":{"labels":{"app":"x"}}}}}"#.utf8)
    }
}
