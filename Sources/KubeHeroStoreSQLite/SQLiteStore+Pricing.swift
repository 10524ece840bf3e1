import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

extension SQLiteStore {
    // MARK: Price versions

    public func importPriceVersion(_ version: PriceVersionRecord, audit: @escaping @Sendable (PriceVersionRecord) -> [AuditDraft]) async throws -> PriceVersionRecord {
        try await write { db in
            let id = try db.queryFirst(
                """
                INSERT INTO price_versions (effective_at, imported_at, origin, catalog_json, changes)
                VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id
                """,
                [
                    .integer(version.effectiveAtMillis), .integer(version.importedAtMillis), .text(version.origin),
                    .text(version.catalogJSON), .text(version.changes.joined(separator: "\n")),
                ]
            ) { $0.int64(at: 0) }
            guard let id else { throw StoreError(.backend, "SQLite database \(db.path): inserting a price version returned no id") }
            var stored = version
            stored.id = id
            _ = try Self.appendAudit(db, audit(stored))
            return stored
        }
    }

    public func priceVersions() async throws -> [PriceVersionRecord] {
        try await read { db in
            try db.query("SELECT id, effective_at, imported_at, origin, catalog_json, changes FROM price_versions ORDER BY effective_at, id") { row in
                let changes = row.text(at: 5)
                return PriceVersionRecord(
                    id: row.int64(at: 0), effectiveAtMillis: row.int64(at: 1), importedAtMillis: row.int64(at: 2),
                    origin: row.text(at: 3), catalogJSON: row.text(at: 4),
                    changes: changes.isEmpty ? [] : changes.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                )
            }
        }
    }

    public func latestNodeMinute(cluster: String, node: String) async throws -> NodeMinuteRecord? {
        try await read { db in
            try db.queryFirst(
                "SELECT \(NodeMinuteColumns.select) FROM node_minutes WHERE cluster = ?1 AND node = ?2 ORDER BY start DESC LIMIT 1",
                [.text(cluster), .text(node)], NodeMinuteColumns.read
            )
        }
    }

    // MARK: Re-pricing

    public func reprice(
        range: TimeRange, cluster: String?, priceVersion: Int64,
        using reprice: @escaping @Sendable (NodeMinuteRecord, [UsageRow]) -> [UsageRow],
        audit: @escaping @Sendable (RepriceSummary) -> [AuditDraft]
    ) async throws -> RepriceSummary {
        try await withWriter { session in
            var learned: [ContainerKey: KnownContainer] = [:]
            let summary = try session.db.transaction(.immediate) {
                let summary = try RepriceTransaction(session: session).run(
                    range: range, cluster: cluster, priceVersion: priceVersion, reprice: reprice, learned: &learned
                )
                _ = try Self.appendAudit(session.db, audit(summary))
                return summary
            }
            session.remember(learned)
            return summary
        }
    }
}

/// The columns of `node_minutes`, in the order statements bind and read them.
enum NodeMinuteColumns {
    static let names = [
        "start", "cluster", "node", "instance_type", "region", "zone", "capacity_type", "cpu_millicores", "memory_bytes", "gpus",
        "price_override", "observed_ms", "price_version",
    ]
    static let select = names.joined(separator: ", ")

    /// Adds a node-minute: the observed time is added to an existing minute, whose node
    /// attributes and price version become the newest batch's.
    static let addSQL = """
        INSERT INTO node_minutes (\(select)) VALUES (\((1...names.count).map { "?\($0)" }.joined(separator: ", ")))
        ON CONFLICT (start, cluster, node) DO UPDATE SET
        \(names[3...].map { $0 == "observed_ms" ? "observed_ms = observed_ms + excluded.observed_ms" : "\($0) = excluded.\($0)" }.joined(separator: ", "))
        """

    static func values(_ m: NodeMinuteRecord) -> [SQLiteValue] {
        [
            .integer(m.startMillis), .text(m.cluster), .text(m.node.name), .text(m.node.instanceType), .text(m.node.region),
            .text(m.node.zone), .text(m.node.capacityType.rawValue), .integer(Int64(m.node.cpuCapacityMillicores)),
            .integer(Int64(clamping: m.node.memoryCapacityBytes)), .integer(Int64(m.node.gpuCount)), .text(m.node.hourlyPriceOverride),
            .integer(m.observedMillis), .integer(m.priceVersion),
        ]
    }

    static func read(_ row: SQLiteStatement) -> NodeMinuteRecord {
        NodeMinuteRecord(
            cluster: row.text(at: 1), startMillis: row.int64(at: 0),
            node: NodeInfo(
                name: row.text(at: 2), instanceType: row.text(at: 3), region: row.text(at: 4), zone: row.text(at: 5),
                capacityType: CapacityType(rawValue: row.text(at: 6)) ?? .unknown,
                cpuCapacityMillicores: UInt32(clamping: row.int64(at: 7)), memoryCapacityBytes: UInt64(clamping: row.int64(at: 8)),
                gpuCount: UInt32(clamping: row.int64(at: 9)), hourlyPriceOverride: row.text(at: 10)
            ),
            observedMillis: row.int64(at: 11), priceVersion: row.int64(at: 12)
        )
    }
}

/// One `reprice` call, run inside its transaction on the writer. A row's new cost replaces its
/// old one by adding the difference, to the minute row and to its hour's rollup alike, so the
/// two resolutions keep agreeing.
private struct RepriceTransaction {
    let session: WriterSession

    func run(
        range: TimeRange, cluster: String?, priceVersion: Int64,
        reprice: (NodeMinuteRecord, [UsageRow]) -> [UsageRow], learned: inout [ContainerKey: KnownContainer]
    ) throws -> RepriceSummary {
        let db = session.db
        var bindings: [SQLiteValue] = [.integer(range.startUnixMillis), .integer(range.endUnixMillis)]
        var condition = "start >= ?1 AND start < ?2"
        if let cluster {
            bindings.append(.text(cluster))
            condition += " AND cluster = ?3"
        }
        let minutes = try db.query(
            "SELECT \(NodeMinuteColumns.select) FROM node_minutes WHERE \(condition) ORDER BY start, cluster, node", bindings,
            NodeMinuteColumns.read
        )
        let ingest = IngestTransaction(session: session)
        let statements = try IngestTransaction.RowStatements(db)
        var rollup = NamespaceRollup.Sums()
        let selectRows = """
            SELECT c.namespace, c.pod, c.container, c.labels_json, \(UsageColumns.names.map { "u.\($0)" }.joined(separator: ", "))
            FROM usage_minute AS u JOIN containers AS c ON c.id = u.container_id
            WHERE u.start = ?1 AND c.cluster = ?2 AND c.node = ?3
            """
        var rowCount = 0
        var before = Money.zero, after = Money.zero
        for minute in minutes {
            let raw = try db.query(selectRows, [.integer(minute.startMillis), .text(minute.cluster), .text(minute.node.name)]) { row in
                (ns: row.text(at: 0), pod: row.text(at: 1), container: row.text(at: 2), labels: row.text(at: 3), values: UsageColumns.read(row, from: 4))
            }
            let rows = try raw.map { r in
                UsageRow(
                    key: ContainerKey(cluster: minute.cluster, node: minute.node.name, namespace: r.ns, pod: r.pod, container: r.container),
                    labels: try LabelsJSON.decode(r.labels, with: db), startMillis: minute.startMillis, usage: r.values.0, cost: r.values.1
                )
            }
            let step = RepriceStep(minute: minute, rows: rows, reprice: reprice)
            before += step.before
            after += step.after
            for adjustment in step.adjustments {
                let id = try ingest.containerID(for: adjustment, learned: &learned)
                try ingest.add(adjustment, containerID: id, minute: minute.startMillis, statements, rollup: &rollup)
                rowCount += 1
            }
            try db.run(
                "UPDATE node_minutes SET price_version = ?4 WHERE start = ?1 AND cluster = ?2 AND node = ?3",
                [.integer(minute.startMillis), .text(minute.cluster), .text(minute.node.name), .integer(priceVersion)]
            )
        }
        try ingest.write(rollup, what: "re-pricing")
        return RepriceSummary(nodeMinutes: minutes.count, rows: rowCount, before: before, after: after)
    }
}
