import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import Logging
import PostgresNIO
import Synchronization

extension PostgresStore {
    // MARK: Price versions

    public func importPriceVersion(_ version: PriceVersionRecord, audit: @escaping @Sendable (PriceVersionRecord) -> [AuditDraft]) async throws -> PriceVersionRecord {
        try await write("importing a price version") { db in
            let id = try await db.query(
                """
                INSERT INTO price_versions (effective_at, imported_at, origin, catalog_json, changes)
                VALUES (\(version.effectiveAtMillis), \(version.importedAtMillis), \(version.origin), \(version.catalogJSON), \(version.changes.joined(separator: "\n")))
                RETURNING id
                """,
                logger: logger
            ).collect().first?.decode(Int64.self)
            guard let id else { throw StoreError(.backend, "PostgreSQL \(location): inserting a price version returned no id") }
            var stored = version
            stored.id = id
            _ = try await Self.appendAudit(db, audit(stored), logger: logger)
            return stored
        }
    }

    public func priceVersions() async throws -> [PriceVersionRecord] {
        try await read("reading price versions", "SELECT id, effective_at, imported_at, origin, catalog_json, changes FROM price_versions ORDER BY effective_at, id")
            .map { row in
                let (id, effective, imported, origin, catalog, changes) = try row.decode((Int64, Int64, Int64, String, String, String).self)
                return PriceVersionRecord(
                    id: id, effectiveAtMillis: effective, importedAtMillis: imported, origin: origin, catalogJSON: catalog,
                    changes: changes.isEmpty ? [] : changes.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                )
            }
    }

    public func latestNodeMinute(cluster: String, node: String) async throws -> NodeMinuteRecord? {
        try await read(
            "reading the newest node-minute of node \"\(node)\"",
            "SELECT \(unescaped: NodeMinuteColumns.select) FROM node_minutes WHERE cluster = \(cluster) AND node = \(node) ORDER BY start DESC LIMIT 1"
        ).first.map(NodeMinuteColumns.read)
    }

    // MARK: Re-pricing

    public func reprice(
        range: TimeRange, cluster: String?, priceVersion: Int64,
        using reprice: @escaping @Sendable (NodeMinuteRecord, [UsageRow]) -> [UsageRow],
        audit: @escaping @Sendable (RepriceSummary) -> [AuditDraft]
    ) async throws -> RepriceSummary {
        let known = containers.withLock { $0.known }
        let (summary, learned) = try await write("re-pricing") { db in
            let result = try await RepriceTransaction(db: db, logger: logger, location: location)
                .run(range: range, cluster: cluster, priceVersion: priceVersion, known: known, reprice: reprice)
            _ = try await Self.appendAudit(db, audit(result.0), logger: logger)
            return result
        }
        containers.withLock { $0.remember(learned) }
        return summary
    }
}

/// The columns of `node_minutes`, in the order statements bind and read them.
enum NodeMinuteColumns {
    static let names = StoreTables.nodeMinutes.columns.map(\.name)
    static let select = names.joined(separator: ", ")

    /// Adds node-minutes (at most one per (start, cluster, node)): the observed time is added to
    /// an existing minute, whose node attributes and price version become the newest batch's.
    static func upsert(_ minutes: [NodeMinuteRecord], _ db: PostgresConnection, logger: Logger) async throws {
        let types = StoreTables.nodeMinutes.columns.map { $0.kind == .text ? "text" : "bigint" }
        var bindings = PostgresBindings()
        bindings.append(minutes.map(\.startMillis))
        bindings.append(minutes.map(\.cluster))
        bindings.append(minutes.map(\.node.name))
        bindings.append(minutes.map(\.node.instanceType))
        bindings.append(minutes.map(\.node.region))
        bindings.append(minutes.map(\.node.zone))
        bindings.append(minutes.map(\.node.capacityType.rawValue))
        bindings.append(minutes.map { Int64($0.node.cpuCapacityMillicores) })
        bindings.append(minutes.map { Int64(clamping: $0.node.memoryCapacityBytes) })
        bindings.append(minutes.map { Int64($0.node.gpuCount) })
        bindings.append(minutes.map(\.node.hourlyPriceOverride))
        bindings.append(minutes.map(\.observedMillis))
        bindings.append(minutes.map(\.priceVersion))
        let sql = """
            INSERT INTO node_minutes (\(select))
            SELECT * FROM unnest(\(types.enumerated().map { "$\($0.offset + 1)::\($0.element)[]" }.joined(separator: ", ")))
            ON CONFLICT (start, cluster, node) DO UPDATE SET
            \(names[3...].map { $0 == "observed_ms" ? "observed_ms = node_minutes.observed_ms + excluded.observed_ms" : "\($0) = excluded.\($0)" }.joined(separator: ", "))
            """
        try await db.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
    }

    static func read(_ row: PostgresRow) throws -> NodeMinuteRecord {
        let (start, cluster, node, instanceType, region, zone, capacity, cpu, memory, gpus, override, observed, version) =
            try row.decode((Int64, String, String, String, String, String, String, Int64, Int64, Int64, String, Int64, Int64).self)
        return NodeMinuteRecord(
            cluster: cluster, startMillis: start,
            node: NodeInfo(
                name: node, instanceType: instanceType, region: region, zone: zone, capacityType: CapacityType(rawValue: capacity) ?? .unknown,
                cpuCapacityMillicores: UInt32(clamping: cpu), memoryCapacityBytes: UInt64(clamping: memory), gpuCount: UInt32(clamping: gpus),
                hourlyPriceOverride: override
            ),
            observedMillis: observed, priceVersion: version
        )
    }
}

/// One `reprice` call, inside its transaction. A row's new cost replaces its old one by adding
/// the difference, to the minute row and to its hour's rollup alike, so that the two
/// resolutions keep agreeing.
private struct RepriceTransaction {
    let db: PostgresConnection
    let logger: Logger
    let location: String

    func run(
        range: TimeRange, cluster: String?, priceVersion: Int64, known: [ContainerKey: ContainerCache.Known],
        reprice: (NodeMinuteRecord, [UsageRow]) -> [UsageRow]
    ) async throws -> (RepriceSummary, [ContainerKey: ContainerCache.Known]) {
        // FOR UPDATE: a replica ingesting into these minutes meanwhile waits for the new prices.
        let minutes = try await db.query("""
            SELECT \(unescaped: NodeMinuteColumns.select) FROM node_minutes
            WHERE start >= \(range.startUnixMillis) AND start < \(range.endUnixMillis) AND (\(cluster)::text IS NULL OR cluster = \(cluster))
            ORDER BY start, cluster, node FOR UPDATE
            """, logger: logger).collect().map(NodeMinuteColumns.read)
        var adjustments: [(UsageRow, [Int64])] = []
        var before = Money.zero, after = Money.zero
        for minute in minutes {
            let raw = try await db.query("""
                SELECT c.namespace, c.pod, c.container, c.labels::text, \(unescaped: UsageFields.names.map { "u.\($0)" }.joined(separator: ", "))
                FROM usage_minute AS u JOIN containers AS c ON c.id = u.container_id
                WHERE u.start = \(minute.startMillis) AND c.cluster = \(minute.cluster) AND c.node = \(minute.node.name)
                """, logger: logger).collect()
            let rows = try raw.map { r in
                let cells = r.makeRandomAccess()
                let key = ContainerKey(
                    cluster: minute.cluster, node: minute.node.name, namespace: try cells[0].decode(String.self),
                    pod: try cells[1].decode(String.self), container: try cells[2].decode(String.self)
                )
                let (usage, cost) = try PostgresStore.usageAndCost(cells, from: 4)
                return UsageRow(
                    key: key, labels: try LabelsJSON.decode(try cells[3].decode(String.self), what: "labels of container \(key) in \(location)"),
                    startMillis: minute.startMillis, usage: usage, cost: cost
                )
            }
            let step = RepriceStep(minute: minute, rows: rows, reprice: reprice)
            before += step.before
            after += step.after
            adjustments += try step.adjustments.map { ($0, try UsageFields.values($0.usage, $0.cost)) }
        }
        let learned = try await UsageWriter.upsertContainers(adjustments.map(\.0), db, known: known, logger: logger)
        try await UsageWriter.add(adjustments, ids: known.merging(learned) { _, new in new }, db, logger: logger)
        try await db.query("""
            UPDATE node_minutes SET price_version = \(priceVersion)
            WHERE start >= \(range.startUnixMillis) AND start < \(range.endUnixMillis) AND (\(cluster)::text IS NULL OR cluster = \(cluster))
            """, logger: logger)
        return (RepriceSummary(nodeMinutes: minutes.count, rows: adjustments.count, before: before, after: after), learned)
    }
}
