import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import PostgresNIO

extension PostgresStore {
    // MARK: Policies

    public func putPolicy(_ policy: PolicyRecord, audit: [AuditDraft]) async throws {
        try await write("storing policy \"\(policy.name)\"") { db in
            try await db.query(
                """
                INSERT INTO policies (name, document, armed, revision, created_at, updated_at)
                VALUES (\(policy.name), \(policy.documentJSON), \(policy.armed ? 1 : 0 as Int64), \(policy.revision), \(policy.createdAtMillis), \(policy.updatedAtMillis))
                ON CONFLICT (name) DO UPDATE SET document = excluded.document, armed = excluded.armed,
                    revision = excluded.revision, created_at = excluded.created_at, updated_at = excluded.updated_at
                """,
                logger: logger
            )
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func policy(named name: String) async throws -> PolicyRecord? {
        try await read("reading policy \"\(name)\"", "\(unescaped: Self.selectPolicy) WHERE name = \(name)").first.map(Self.policyRecord)
    }

    public func listPolicies() async throws -> [PolicyRecord] {
        try await read("listing policies", "\(unescaped: Self.selectPolicy) ORDER BY name COLLATE \"C\"").map(Self.policyRecord)
    }

    public func deletePolicy(named name: String, audit: [AuditDraft]) async throws {
        try await write("deleting policy \"\(name)\"") { db in
            // policy_states goes with it (ON DELETE CASCADE).
            let deleted = try await db.query("DELETE FROM policies WHERE name = \(name) RETURNING 1", logger: logger).collect()
            guard !deleted.isEmpty else { throw StoreError(.notFound, "policy \"\(name)\" not found") }
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func savePolicyStates(_ states: [PolicyStateRecord], audit: [AuditDraft]) async throws {
        if states.isEmpty && audit.isEmpty { return }
        try await write("saving \(states.count) policy states") { db in
            if !states.isEmpty {
                // One statement; states of policies deleted meanwhile are skipped (the join).
                try await db.query(
                    """
                    INSERT INTO policy_states (name, state, updated_at)
                    SELECT s.name, s.state, s.updated_at
                    FROM unnest(\(states.map(\.name))::text[], \(states.map(\.stateJSON))::text[], \(states.map(\.updatedAtMillis))::bigint[])
                        AS s (name, state, updated_at)
                    JOIN policies AS p ON p.name = s.name
                    ORDER BY s.name
                    ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                    """,
                    logger: logger
                )
            }
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func policyStates() async throws -> [PolicyStateRecord] {
        try await read("reading policy states", "SELECT name, state, updated_at FROM policy_states ORDER BY name COLLATE \"C\"").map { row in
            let (name, state, at) = try row.decode((String, String, Int64).self)
            return PolicyStateRecord(name: name, stateJSON: state, updatedAtMillis: at)
        }
    }

    public func recordEnforcementAck(_ ack: EnforcementAckRecord, audit: [AuditDraft]) async throws {
        try await write("recording the acknowledgement of cluster \"\(ack.cluster)\"") { db in
            try await db.query(
                """
                INSERT INTO enforcement_acks (cluster, directive, policies_json, acked_at)
                VALUES (\(ack.cluster), \(ack.directiveID), \(ack.policiesJSON), \(ack.ackedAtMillis))
                ON CONFLICT (cluster) DO UPDATE SET directive = excluded.directive, policies_json = excluded.policies_json, acked_at = excluded.acked_at
                """,
                logger: logger
            )
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func enforcementAcks() async throws -> [EnforcementAckRecord] {
        let sql: PostgresQuery = """
            SELECT cluster, directive, ARRAY(SELECT jsonb_array_elements_text(policies_json::jsonb)), acked_at
            FROM enforcement_acks ORDER BY cluster COLLATE "C"
            """
        return try await read("reading acknowledgements", sql).map { row in
            let (cluster, directive, policies, at) = try row.decode((String, String, [String], Int64).self)
            return EnforcementAckRecord(cluster: cluster, directiveID: directive, policies: policies, ackedAtMillis: at)
        }
    }

    public func scopeSpend(_ query: ScopeSpendQuery) async throws -> [ScopeSpendRow] {
        guard let earliest = query.starts.min() else { return [] }
        let n = query.starts.count
        var bindings = PostgresBindings()
        bindings.append(earliest)
        bindings.append(query.endMillis)
        for start in query.starts { bindings.append(start) }
        let sql = query.sql(parameter: { "$\($0)" }, labels: "c.labels", labelsText: "c.labels::text", integer: "::bigint")
        let rows = try await readReplica("summing spend for policies", PostgresQuery(unsafeSQL: sql, binds: bindings))
        var decoded: [String: [String: String]] = [:]
        return try rows.map { row in
            var cells = row.makeIterator()
            func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
                guard let cell = cells.next() else { throw StoreError(.backend, "spend row has too few columns in \(location)") }
                return try cell.decode(T.self)
            }
            let cluster = try next(String.self)
            let namespace = try next(String.self)
            let labelsJSON = try next(String.self)
            let amounts = try (0..<n).map { _ in Money(nanoUSD: try next(Int64.self)) }
            let labels: [String: String]
            if let known = decoded[labelsJSON] {
                labels = known
            } else {
                labels = try LabelsJSON.decode(labelsJSON, what: "container labels in \(location)")
                decoded[labelsJSON] = labels
            }
            return ScopeSpendRow(cluster: cluster, namespace: namespace, labels: labels, amounts: amounts)
        }
    }

    private static let selectPolicy = "SELECT name, document, armed, revision, created_at, updated_at FROM policies"

    private static func policyRecord(_ row: PostgresRow) throws -> PolicyRecord {
        let (name, document, armed, revision, created, updated) = try row.decode((String, String, Int64, Int64, Int64, Int64).self)
        return PolicyRecord(name: name, documentJSON: document, armed: armed != 0, revision: revision, createdAtMillis: created, updatedAtMillis: updated)
    }
}
