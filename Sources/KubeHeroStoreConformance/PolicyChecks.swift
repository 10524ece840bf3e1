import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

enum PolicyChecks {
    static func policy(_ name: String, document: String = #"{"spec":{}}"#, armed: Bool = false, revision: Int64 = 1, at: Int64 = Fixture.t0) -> PolicyRecord {
        PolicyRecord(name: name, documentJSON: document, armed: armed, revision: revision, createdAtMillis: Fixture.t0, updatedAtMillis: at)
    }

    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("policies: put creates and replaces by name, lists by name, and appends its audit entries") { store in
            try await store.putPolicy(policy("zeta"), audit: Fixture.audit(.policyApply, subject: "zeta"))
            try await store.putPolicy(policy("alpha"), audit: Fixture.audit(.policyApply, subject: "alpha"))
            let changed = policy("zeta", document: #"{"spec":{"ceiling":"$5/mo"}}"#, armed: true, revision: 2, at: Fixture.t0 + 1_000)
            try await store.putPolicy(changed, audit: Fixture.audit(.policyApply, subject: "zeta"))
            try expectEqual(try await store.policy(named: "zeta"), changed, "policy(named: zeta) after a replace")
            try expectEqual(try await store.policy(named: "nope"), nil, "policy(named:) of an unknown name")
            try expectEqual(try await store.listPolicies().map(\.name), ["alpha", "zeta"], "listPolicies() names")
            try await AuditChecks.expectLog(store, actions: [.policyApply, .policyApply, .policyApply], "after three puts")
        },
        StoreConformanceCheck("policies: delete removes the policy and its state; an unknown name is notFound") { store in
            try await store.putPolicy(policy("p"), audit: [])
            try await store.savePolicyStates([PolicyStateRecord(name: "p", stateJSON: "{}", updatedAtMillis: Fixture.t0)], audit: [])
            try await store.deletePolicy(named: "p", audit: Fixture.audit(.policyDelete, subject: "p"))
            try expectEqual(try await store.listPolicies(), [], "listPolicies() after delete")
            try expectEqual(try await store.policyStates(), [], "policyStates() after delete")
            try await expectStoreError(.notFound, mentioning: "policy \"p\"", "deletePolicy of a deleted name") {
                try await store.deletePolicy(named: "p", audit: Fixture.audit(.policyDelete, subject: "p"))
            }
            try await AuditChecks.expectLog(store, actions: [.policyDelete], "after a delete and a refused delete")
            // A policy of the same name starts without the old state.
            try await store.putPolicy(policy("p"), audit: [])
            try expectEqual(try await store.policyStates(), [], "policyStates() of a re-created policy")
        },
        StoreConformanceCheck("policies: states are replaced whole, skipped for unknown policies, and saved with their audit entries") { store in
            try await store.putPolicy(policy("a"), audit: [])
            try await store.putPolicy(policy("b"), audit: [])
            try await store.savePolicyStates([
                PolicyStateRecord(name: "a", stateJSON: #"{"n":1}"#, updatedAtMillis: Fixture.t0),
                PolicyStateRecord(name: "gone", stateJSON: #"{"n":9}"#, updatedAtMillis: Fixture.t0),
            ], audit: Fixture.audit(.thresholdCrossed, subject: "a"))
            try await store.savePolicyStates([
                PolicyStateRecord(name: "a", stateJSON: #"{"n":2}"#, updatedAtMillis: Fixture.t0 + 60_000),
                PolicyStateRecord(name: "b", stateJSON: #"{"n":3}"#, updatedAtMillis: Fixture.t0 + 60_000),
            ], audit: [])
            try expectEqual(try await store.policyStates(), [
                PolicyStateRecord(name: "a", stateJSON: #"{"n":2}"#, updatedAtMillis: Fixture.t0 + 60_000),
                PolicyStateRecord(name: "b", stateJSON: #"{"n":3}"#, updatedAtMillis: Fixture.t0 + 60_000),
            ], "policyStates()")
            try await AuditChecks.expectLog(store, actions: [.thresholdCrossed], "after two passes")
        },
        StoreConformanceCheck("policies: an enforcement acknowledgement replaces the cluster's previous one") { store in
            try await store.recordEnforcementAck(EnforcementAckRecord(cluster: "prod", directiveID: "1", policies: ["a", "b"], ackedAtMillis: Fixture.t0), audit: [])
            try await store.recordEnforcementAck(EnforcementAckRecord(cluster: "dev", directiveID: "1", policies: [], ackedAtMillis: Fixture.t0), audit: [])
            let newer = EnforcementAckRecord(cluster: "prod", directiveID: "2", policies: ["b"], ackedAtMillis: Fixture.t0 + 1)
            try await store.recordEnforcementAck(newer, audit: Fixture.audit(.enforcementStart, subject: "prod"))
            try expectEqual(try await store.enforcementAcks(), [
                EnforcementAckRecord(cluster: "dev", directiveID: "1", policies: [], ackedAtMillis: Fixture.t0), newer,
            ], "enforcementAcks()")
        },
        StoreConformanceCheck("policies: scope spend sums hourly rollups per cluster, namespace and label set, over the period and the recent window") { store in
            let a = ContainerKey(cluster: "prod", node: "n1", namespace: "payments", pod: "api-1", container: "app")
            let b = ContainerKey(cluster: "prod", node: "n2", namespace: "payments", pod: "api-2", container: "app")
            let c = ContainerKey(cluster: "prod", node: "n1", namespace: "web", pod: "front", container: "nginx")
            let h = Fixture.hour
            // Three hours: t0 - 1h (before the period), t0 and t0 + 1h (the current, partial hour).
            let rows = [
                Fixture.row(a, labels: ["team": "ml"], at: Fixture.t0 - h, cpu: 1_000, ram: 0),
                Fixture.row(a, labels: ["team": "ml"], at: Fixture.t0, cpu: 100, ram: 10),
                Fixture.row(b, labels: ["team": "ml"], at: Fixture.t0 + h, cpu: 200, ram: 20, network: [0, 0, 0, 5, 0]),
                Fixture.row(c, labels: ["team": "web"], at: Fixture.t0 + h, cpu: 7, ram: 0),
                Fixture.row(c, labels: ["team": "web"], at: Fixture.t0 + 3 * h, cpu: 50_000, ram: 0),  // after the end
            ]
            _ = try await store.ingest(Fixture.record(cluster: "prod", agent: "x", sequence: 1, node: "n1", receivedAt: Fixture.t0 + 3 * h, rows: rows))
            let spend = try await store.scopeSpend(ScopeSpendQuery(starts: [Fixture.t0, Fixture.t0 - h], endMillis: Fixture.t0 + 2 * h))
            let byKey = Dictionary(uniqueKeysWithValues: spend.map { ("\($0.cluster)/\($0.namespace)/\($0.labels)", $0) })
            try expectEqual(spend.count, 2, "scopeSpend group count (\(spend.map { "\($0.namespace) \($0.labels)" }))")
            try expectEqual(
                byKey["prod/payments/\(["team": "ml"])"]?.amounts, [Money(nanoUSD: 110 + 225), Money(nanoUSD: 1_000 + 110 + 225)],
                "payments team=ml spend since t0 and since t0 - 1h"
            )
            try expectEqual(byKey["prod/web/\(["team": "web"])"]?.amounts, [Money(nanoUSD: 7), Money(nanoUSD: 7)], "web team=web spend")
            try expectEqual(try await store.scopeSpend(ScopeSpendQuery(starts: [], endMillis: Fixture.t0)), [], "scopeSpend with no starts")
        },
    ]
}
