import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

extension SQLiteStore {
    // MARK: Policies

    public func putPolicy(_ policy: PolicyRecord, audit: [AuditDraft]) async throws {
        try await write { db in
            try db.run(
                """
                INSERT INTO policies (name, document, armed, revision, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT (name) DO UPDATE SET document = excluded.document, armed = excluded.armed,
                    revision = excluded.revision, created_at = excluded.created_at, updated_at = excluded.updated_at
                """,
                [
                    .text(policy.name), .text(policy.documentJSON), .integer(policy.armed ? 1 : 0), .integer(policy.revision),
                    .integer(policy.createdAtMillis), .integer(policy.updatedAtMillis),
                ]
            )
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func policy(named name: String) async throws -> PolicyRecord? {
        try await read { db in
            try db.queryFirst(Self.selectPolicy + " WHERE name = ?1", [.text(name)], Self.policyRecord)
        }
    }

    public func listPolicies() async throws -> [PolicyRecord] {
        try await read { db in
            try db.query(Self.selectPolicy + " ORDER BY name", [], Self.policyRecord)
        }
    }

    public func deletePolicy(named name: String, audit: [AuditDraft]) async throws {
        try await write { db in
            // policy_states goes with it (ON DELETE CASCADE).
            guard try db.run("DELETE FROM policies WHERE name = ?1", [.text(name)]) == 1 else {
                throw StoreError(.notFound, "policy \"\(name)\" not found")
            }
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func savePolicyStates(_ states: [PolicyStateRecord], audit: [AuditDraft]) async throws {
        if states.isEmpty && audit.isEmpty { return }
        try await write { db in
            let upsert = try db.statement(
                """
                INSERT INTO policy_states (name, state, updated_at) SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM policies WHERE name = ?1)
                ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """
            )
            for s in states {
                try upsert.bind([.text(s.name), .text(s.stateJSON), .integer(s.updatedAtMillis)])
                try upsert.execute()
            }
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func policyStates() async throws -> [PolicyStateRecord] {
        try await read { db in
            try db.query("SELECT name, state, updated_at FROM policy_states ORDER BY name") {
                PolicyStateRecord(name: $0.text(at: 0), stateJSON: $0.text(at: 1), updatedAtMillis: $0.int64(at: 2))
            }
        }
    }

    public func recordEnforcementAck(_ ack: EnforcementAckRecord, audit: [AuditDraft]) async throws {
        try await write { db in
            try db.run(
                """
                INSERT INTO enforcement_acks (cluster, directive, policies_json, acked_at) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT (cluster) DO UPDATE SET directive = excluded.directive, policies_json = excluded.policies_json, acked_at = excluded.acked_at
                """,
                [.text(ack.cluster), .text(ack.directiveID), .text(ack.policiesJSON), .integer(ack.ackedAtMillis)]
            )
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func enforcementAcks() async throws -> [EnforcementAckRecord] {
        try await read { db in
            let rows = try db.query("SELECT cluster, directive, policies_json, acked_at FROM enforcement_acks ORDER BY cluster") {
                ($0.text(at: 0), $0.text(at: 1), $0.text(at: 2), $0.int64(at: 3))
            }
            return try rows.map { cluster, directive, names, at in
                let policies = try db.query("SELECT value FROM json_each(?1) ORDER BY key", [.text(names)]) { $0.text(at: 0) }
                return EnforcementAckRecord(cluster: cluster, directiveID: directive, policies: policies, ackedAtMillis: at)
            }
        }
    }

    public func scopeSpend(_ query: ScopeSpendQuery) async throws -> [ScopeSpendRow] {
        guard let earliest = query.starts.min() else { return [] }
        let n = query.starts.count
        let sql = query.sql(parameter: { "?\($0)" }, labels: "c.labels_json", labelsText: "c.labels_json", integer: "")
        let bindings: [SQLiteValue] = [.integer(earliest), .integer(query.endMillis)] + query.starts.map { .integer($0) }
        return try await read { db in
            let rows = try db.query(sql, bindings) { row in
                (row.text(at: 0), row.text(at: 1), row.text(at: 2), (0..<n).map { Money(nanoUSD: row.int64(at: Int32($0 + 3))) })
            }
            var decoded: [String: [String: String]] = [:]
            return try rows.map { cluster, namespace, labelsJSON, amounts in
                let labels: [String: String]
                if let known = decoded[labelsJSON] {
                    labels = known
                } else {
                    labels = try LabelsJSON.decode(labelsJSON, with: db)
                    decoded[labelsJSON] = labels
                }
                return ScopeSpendRow(cluster: cluster, namespace: namespace, labels: labels, amounts: amounts)
            }
        }
    }

    private static let selectPolicy = "SELECT name, document, armed, revision, created_at, updated_at FROM policies"

    private static func policyRecord(_ row: SQLiteStatement) -> PolicyRecord {
        PolicyRecord(
            name: row.text(at: 0), documentJSON: row.text(at: 1), armed: row.int64(at: 2) != 0, revision: row.int64(at: 3),
            createdAtMillis: row.int64(at: 4), updatedAtMillis: row.int64(at: 5)
        )
    }
}
