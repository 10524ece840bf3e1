import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import Logging
import PostgresNIO
import Synchronization

extension PostgresStore {
    // MARK: Ingest

    public func ingest(_ records: [IngestRecord]) async throws -> [IngestOutcome] {
        if records.isEmpty { return [] }
        let plan = try IngestPlan(records)
        try await ensurePartitions(plan.spans)
        do {
            return try await ingest(plan)
        } catch let error as StoreError where error.message.contains("no partition of relation") {
            // Another replica's retention dropped a partition this one still counted on.
            try await loadPartitions()
            try await ensurePartitions(plan.spans)
            return try await ingest(plan)
        }
    }

    private func ingest(_ plan: IngestPlan) async throws -> [IngestOutcome] {
        let known = containers.withLock { $0.known }
        let (outcomes, learned) = try await write(plan.description) { db in
            try await plan.run(db, known: known, logger: logger)
        }
        // Only after COMMIT: a rolled-back transaction's new container ids do not exist.
        containers.withLock { $0.remember(learned) }
        return outcomes
    }

    // MARK: Queries

    public func costs(_ query: CostQuery) async throws -> [CostGroup] {
        if NamespaceRollup.answers(query) {
            let statement = NamespaceRollup.costsSQL(query, parameter: { "$\($0)" }, integer: "::bigint", collation: " COLLATE \"C\"")
            var bindings = PostgresBindings()
            for value in statement.integers { bindings.append(value) }
            for value in statement.texts { bindings.append(value) }
            return try await costGroups(statement.sql, bindings)
        }
        var bindings = PostgresBindings()
        bindings.append(query.range.startUnixMillis)
        bindings.append(query.range.endUnixMillis)
        let groupName = query.aggregation.groupNameSQL { key in
            bindings.append(key)
            return "coalesce(c.labels ->> $3, '\(unlabelledGroup)')"
        }
        let filter = Self.filterSQL(query.filter, bindings: &bindings)
        let columns = UsageFields.names
        let table = PartitionedTable.of(query.resolution).name
        // Sum per container first, so that the group expression runs once per container rather
        // than once per row; then sum the containers of each group. Sums of bigint are numeric
        // in PostgreSQL: cast back, so that a total past Int64 is an error, not a rounding.
        let idle = "sum(CASE WHEN c.namespace = '\(IdleIdentity.name)' THEN \(UsageFields.computeCostNames.map { "s.\($0)" }.joined(separator: " + ")) ELSE 0 END)::bigint"
        let sql = """
            SELECT \(groupName) AS name, \(columns.map { "sum(s.\($0))::bigint" }.joined(separator: ", ")), \(idle)
            FROM (
                SELECT u.container_id AS container_id, \(columns.map { "sum(u.\($0)) AS \($0)" }.joined(separator: ", "))
                FROM \(table) AS u\(filter.isEmpty ? "" : " JOIN containers AS c ON c.id = u.container_id")
                WHERE u.start >= $1 AND u.start < $2\(filter)
                GROUP BY u.container_id
            ) AS s JOIN containers AS c ON c.id = s.container_id
            GROUP BY 1
            ORDER BY \(UsageFields.costNames.map { "sum(s.\($0))" }.joined(separator: " + ")) DESC, (\(groupName)) COLLATE "C"
            """
        return try await costGroups(sql, bindings)
    }

    /// Runs a cost statement whose columns are the group's name, `UsageFields.names`, then idle.
    private func costGroups(_ sql: String, _ bindings: PostgresBindings) async throws -> [CostGroup] {
        let rows = try await readReplica("querying costs", PostgresQuery(unsafeSQL: sql, binds: bindings))
        return try rows.map { row in
            let cells = row.makeRandomAccess()
            let (usage, cost) = try Self.usageAndCost(cells, from: 1)
            return CostGroup(
                name: try cells[0].decode(String.self), usage: usage, cost: cost,
                idle: Money(nanoUSD: try cells[UsageFields.names.count + 1].decode(Int64.self))
            )
        }
    }

    public func series(_ query: SeriesQuery) async throws -> [SeriesBucket] {
        guard query.stepMillis > 0 else {
            throw StoreError(.backend, "series step must be a positive number of milliseconds, got \(query.stepMillis)")
        }
        var bindings = PostgresBindings()
        bindings.append(query.range.startUnixMillis)
        bindings.append(query.range.endUnixMillis)
        bindings.append(query.stepMillis)
        let filter = Self.filterSQL(query.filter, bindings: &bindings)
        let sql = """
            SELECT u.start - ((u.start - $1) % $3) AS bucket, \(UsageFields.names.map { "sum(u.\($0))::bigint" }.joined(separator: ", "))
            FROM \(PartitionedTable.of(query.resolution).name) AS u\(filter.isEmpty ? "" : " JOIN containers AS c ON c.id = u.container_id")
            WHERE u.start >= $1 AND u.start < $2\(filter)
            GROUP BY bucket
            ORDER BY bucket
            """
        let rows = try await readReplica("querying a series", PostgresQuery(unsafeSQL: sql, binds: bindings))
        return try rows.map { row in
            let cells = row.makeRandomAccess()
            let (usage, cost) = try Self.usageAndCost(cells, from: 1)
            return SeriesBucket(startMillis: try cells[0].decode(Int64.self), usage: usage, cost: cost)
        }
    }

    public func lastBatchTimes() async throws -> [String: Int64] {
        let rows = try await readReplica("reading the last batch times", "SELECT cluster, last_batch_at FROM cluster_activity")
        return Dictionary(try rows.map { try $0.decode((String, Int64).self) }, uniquingKeysWith: max)
    }

    public func gaps(cluster: String, limit: Int) async throws -> [GapRecord] {
        guard limit > 0 else { return [] }
        let rows = try await readReplica("reading gaps of cluster \"\(cluster)\"", """
            SELECT node, agent_instance, seq, reported_at, dropped_ticks, dropped_batches FROM gaps
            WHERE cluster = \(cluster) ORDER BY reported_at DESC, id DESC LIMIT \(Int64(limit))
            """)
        return try rows.map { row in
            let (node, agent, seq, reported, ticks, batches) = try row.decode((String, String, Int64, Int64, Int64, Int64).self)
            return GapRecord(
                cluster: cluster, node: node, agentInstanceID: agent, sequence: UInt64(bitPattern: seq), reportedAtMillis: reported,
                droppedTicks: UInt64(bitPattern: ticks), droppedBatches: UInt64(bitPattern: batches)
            )
        }
    }

    public func batchCount() async throws -> Int {
        Int(try await read("counting batches", "SELECT coalesce(sum(batch_count), 0)::bigint FROM cluster_activity").first?.decode(Int64.self) ?? 0)
    }

    // MARK: Maintenance

    public func deleteRows(resolution: Resolution, beforeMillis: Int64) async throws -> Int {
        let table = PartitionedTable.of(resolution)
        let (count, dropped) = try await write("deleting \(resolution) rows") { db in
            try await db.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.partitionLockKey))", logger: logger)
            var (count, dropped) = try await Self.deleteBefore(beforeMillis, in: table, db: db, logger: logger)
            if resolution == .minute {
                dropped += try await Self.deleteBefore(beforeMillis, in: .nodeMinutes, db: db, logger: logger).dropped
            } else {
                // The rollup's rows have the hour rows' starts: the same cut keeps the two equal.
                dropped += try await Self.deleteBefore(beforeMillis, in: .namespaceHour, db: db, logger: logger).dropped
                dropped += try await Self.deleteBefore(beforeMillis, in: .namespaceDay, db: db, logger: logger).dropped
                for sql in NamespaceRollup.dayRetentionSQL(cut: "$1::bigint", integer: "::bigint") {
                    var bindings = PostgresBindings()
                    bindings.append(beforeMillis)
                    try await db.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
                }
            }
            return (count, dropped)
        }
        knownPartitions.withLock { known in for name in dropped { known.remove(name) } }
        if !dropped.isEmpty { logger.info("dropped partitions past retention", metadata: ["partitions": "\(dropped)"]) }
        try await createPartitionsAhead()
        return count
    }

    public func deleteBatchKeys(windowEndBeforeMillis: Int64) async throws -> Int {
        try await write("forgetting batch keys") { db in
            try await db.query("DELETE FROM batches WHERE window_end < \(windowEndBeforeMillis) RETURNING 1", logger: logger).collect().count
        }
    }

    /// ` AND c.column = $N` for each set field of `filter`, appending the values to `bindings`.
    static func filterSQL(_ filter: RowFilter, bindings: inout PostgresBindings) -> String {
        var sql = ""
        let fields = [
            ("cluster", filter.cluster), ("node", filter.node), ("namespace", filter.namespace),
            ("pod", filter.pod), ("container", filter.container),
        ]
        for case let (column, value?) in fields {
            bindings.append(value)
            sql += " AND c.\(column) = $\(bindings.count)"
        }
        return sql
    }

    /// `UsageFields.names.count` bigint columns from `first` on.
    static func usageAndCost(_ cells: PostgresRandomAccessRow, from first: Int) throws -> (Usage, Cost) {
        var index = first
        return try UsageFields.read {
            defer { index += 1 }
            return try cells[index].decode(Int64.self)
        }
    }
}

/// The group name of rows without the label a `label:KEY` query groups by.
let unlabelledGroup = "__unlabelled__"

/// One `ingest` call worked out before it touches the database: values checked and flattened,
/// and the partitions its rows need.
struct IngestPlan: Sendable, CustomStringConvertible {
    let records: [IngestRecord]
    /// Per record, per row: the row's values in `UsageFields` order.
    let values: [[[Int64]]]
    let spans: [(PartitionedTable, Int64)]

    init(_ records: [IngestRecord]) throws {
        self.records = records
        values = try records.map { record in
            try record.rows.map { row in
                do {
                    return try UsageFields.values(row.usage, row.cost)
                } catch let error as StoreError {
                    throw StoreError(error.code, "\(Self.describe(record)): \(error.message)")
                }
            }
        }
        var spans: [(PartitionedTable, Int64)] = []
        var seen = Set<String>()
        func need(_ table: PartitionedTable, _ t: Int64) {
            let start = table.spanStart(t)
            if seen.insert(table.partitionName(start)).inserted { spans.append((table, start)) }
        }
        for record in records {
            for row in record.rows {
                need(.usageMinute, row.startMillis)
                need(.usageHour, alignedDown(row.startMillis, to: Resolution.hour.millis))
                need(.namespaceHour, alignedDown(row.startMillis, to: Resolution.hour.millis))
                need(.namespaceDay, NamespaceRollup.dayStart(row.startMillis))
            }
            for minute in record.nodeMinutes { need(.nodeMinutes, minute.startMillis) }
        }
        self.spans = spans
    }

    var description: String {
        records.count == 1 ? Self.describe(records[0]) : "storing \(records.count) batches"
    }

    static func describe(_ record: IngestRecord) -> String {
        "storing batch \(record.sequence) of agent \"\(record.agentInstanceID)\" of cluster \"\(record.cluster)\""
    }

    /// The transaction's statements; returns the outcomes and the container ids it learned.
    func run(
        _ db: PostgresConnection, known: [ContainerKey: ContainerCache.Known], logger: Logger
    ) async throws -> ([IngestOutcome], [ContainerKey: ContainerCache.Known]) {
        let outcomes = try await insertBatchKeys(db, logger: logger)
        let committed = records.indices.filter { outcomes[$0] == .committed }
        if committed.isEmpty { return (outcomes, [:]) }

        try await recordActivity(committed, db, logger: logger)
        let rows = committed.flatMap { i in zip(records[i].rows, values[i]).map { ($0, $1) } }
        let learned = try await UsageWriter.upsertContainers(rows.map(\.0), db, known: known, logger: logger)
        try await UsageWriter.add(rows, ids: known.merging(learned) { _, new in new }, db, logger: logger)
        try await addNodeMinutes(committed, db, logger: logger)
        try await insertGaps(committed, db, logger: logger)
        _ = try await PostgresStore.appendAudit(db, committed.compactMap { records[$0].audit }, logger: logger)
        return (outcomes, learned)
    }

    /// One statement for every key; the keys it inserted are the committed batches. A key
    /// stored before (by any replica: the primary key is shared) or earlier in `records`
    /// conflicts and inserts nothing.
    private func insertBatchKeys(_ db: PostgresConnection, logger: Logger) async throws -> [IngestOutcome] {
        let inserted = try await db.query("""
            INSERT INTO batches (cluster, agent_instance, seq, node, received_at, window_start, window_end, samples)
            SELECT * FROM unnest(
                \(records.map(\.cluster))::text[], \(records.map(\.agentInstanceID))::text[],
                \(records.map { Int64(bitPattern: $0.sequence) })::bigint[], \(records.map(\.node))::text[],
                \(records.map(\.receivedAtMillis))::bigint[], \(records.map(\.windowStartMillis))::bigint[],
                \(records.map(\.windowEndMillis))::bigint[], \(records.map { Int64($0.sampleCount) })::bigint[]
            )
            ON CONFLICT DO NOTHING
            RETURNING cluster, agent_instance, seq
            """, logger: logger).collect()
        struct Key: Hashable {
            var cluster: String, agent: String, seq: Int64
        }
        var fresh = Set(try inserted.map { row in
            let (cluster, agent, seq) = try row.decode((String, String, Int64).self)
            return Key(cluster: cluster, agent: agent, seq: seq)
        })
        // The first record of each inserted key is the one stored; any repeat is a duplicate.
        return records.map { r in
            fresh.remove(Key(cluster: r.cluster, agent: r.agentInstanceID, seq: Int64(bitPattern: r.sequence))) != nil ? .committed : .duplicate
        }
    }

    private func recordActivity(_ committed: [Int], _ db: PostgresConnection, logger: Logger) async throws {
        var activity: [String: (last: Int64, count: Int64)] = [:]
        for i in committed {
            let r = records[i]
            let was = activity[r.cluster] ?? (Int64.min, 0)
            activity[r.cluster] = (max(was.last, r.receivedAtMillis), was.count + 1)
        }
        // Sorted: replicas lock the clusters' rows in the same order, so they cannot deadlock.
        let clusters = activity.keys.sorted()
        try await db.query("""
            INSERT INTO cluster_activity (cluster, last_batch_at, batch_count)
            SELECT * FROM unnest(\(clusters)::text[], \(clusters.map { activity[$0]!.last })::bigint[], \(clusters.map { activity[$0]!.count })::bigint[])
            ON CONFLICT (cluster) DO UPDATE SET
                last_batch_at = greatest(cluster_activity.last_batch_at, excluded.last_batch_at),
                batch_count = cluster_activity.batch_count + excluded.batch_count
            """, logger: logger)
    }

    /// Node-minutes: observed time added, attributes and price version from the newest batch.
    private func addNodeMinutes(_ committed: [Int], _ db: PostgresConnection, logger: Logger) async throws {
        struct Slot: Hashable {
            var start: Int64, cluster: String, node: String
        }
        var merged: [Slot: NodeMinuteRecord] = [:]
        for i in committed {
            for m in records[i].nodeMinutes {
                let slot = Slot(start: m.startMillis, cluster: m.cluster, node: m.node.name)
                var next = m
                if let was = merged[slot] { next.observedMillis += was.observedMillis }
                merged[slot] = next
            }
        }
        if merged.isEmpty { return }
        let minutes = merged.values.sorted { ($0.startMillis, $0.cluster, $0.node.name) < ($1.startMillis, $1.cluster, $1.node.name) }
        try await NodeMinuteColumns.upsert(minutes, db, logger: logger)
    }

    private func insertGaps(_ committed: [Int], _ db: PostgresConnection, logger: Logger) async throws {
        let gaps = committed.map { records[$0] }.filter { $0.droppedTicks > 0 || $0.droppedBatches > 0 }
        if gaps.isEmpty { return }
        try await db.query("""
            INSERT INTO gaps (cluster, node, agent_instance, seq, reported_at, dropped_ticks, dropped_batches)
            SELECT * FROM unnest(
                \(gaps.map(\.cluster))::text[], \(gaps.map(\.node))::text[], \(gaps.map(\.agentInstanceID))::text[],
                \(gaps.map { Int64(bitPattern: $0.sequence) })::bigint[], \(gaps.map(\.receivedAtMillis))::bigint[],
                \(gaps.map { Int64(bitPattern: $0.droppedTicks) })::bigint[], \(gaps.map { Int64(bitPattern: $0.droppedBatches) })::bigint[]
            )
            """, logger: logger)
    }
}

/// Writes usage rows: shared by ingest and re-pricing.
enum UsageWriter {
    /// Inserts unknown containers and updates changed labels, in one statement; returns the ids.
    static func upsertContainers(
        _ rows: [UsageRow], _ db: PostgresConnection, known: [ContainerKey: ContainerCache.Known], logger: Logger
    ) async throws -> [ContainerKey: ContainerCache.Known] {
        // The latest labels of each container the group reports, where they are not known.
        var wanted: [ContainerKey: [String: String]] = [:]
        for row in rows where known[row.key]?.labels != row.labels {
            wanted[row.key] = row.labels
        }
        if wanted.isEmpty { return [:] }
        let keys = wanted.keys.sorted { ($0.cluster, $0.node, $0.namespace, $0.pod, $0.container) < ($1.cluster, $1.node, $1.namespace, $1.pod, $1.container) }
        let labels = try keys.map { try LabelsJSON.encode(wanted[$0]!) }
        let rows = try await db.query("""
            INSERT INTO containers (cluster, node, namespace, pod, container, labels)
            SELECT c, n, ns, p, k, l::jsonb FROM unnest(
                \(keys.map(\.cluster))::text[], \(keys.map(\.node))::text[], \(keys.map(\.namespace))::text[],
                \(keys.map(\.pod))::text[], \(keys.map(\.container))::text[], \(labels)::text[]
            ) AS t (c, n, ns, p, k, l)
            ON CONFLICT (cluster, node, namespace, pod, container) DO UPDATE SET labels = excluded.labels
            RETURNING id, cluster, node, namespace, pod, container
            """, logger: logger).collect()
        var learned: [ContainerKey: ContainerCache.Known] = [:]
        for row in rows {
            let (id, cluster, node, namespace, pod, container) = try row.decode((Int64, String, String, String, String, String).self)
            let key = ContainerKey(cluster: cluster, node: node, namespace: namespace, pod: pod, container: container)
            learned[key] = ContainerCache.Known(id: id, labels: wanted[key] ?? [:])
        }
        return learned
    }

    /// Adds every row to its minute, to its hour and to its namespace's hour (the rollup):
    /// summed here per (start, container) or (start, cluster, namespace) first, since one
    /// statement may not update a row twice, then one multi-row upsert per table, tables in this
    /// order and rows sorted, so that replicas lock shared rows in one order.
    static func add(_ rows: [(UsageRow, [Int64])], ids: [ContainerKey: ContainerCache.Known], _ db: PostgresConnection, logger: Logger) async throws {
        struct Slot: Hashable, Comparable {
            var start: Int64, container: Int64
            static func < (a: Slot, b: Slot) -> Bool { (a.start, a.container) < (b.start, b.container) }
        }
        var minutes: [Slot: [Int64]] = [:], hours: [Slot: [Int64]] = [:]
        var rollup = NamespaceRollup.Sums()
        for (row, values) in rows {
            guard let id = ids[row.key]?.id else {
                throw StoreError(.backend, "container \(row.key) has no id after its upsert")
            }
            let minute = alignedDown(row.startMillis, to: Resolution.minute.millis)
            let hour = alignedDown(minute, to: Resolution.hour.millis)
            try add(values, to: &minutes, at: Slot(start: minute, container: id))
            try add(values, to: &hours, at: Slot(start: hour, container: id))
            try rollup.add(row.key, hourStart: hour, values)
        }
        for (table, sums) in [(PartitionedTable.usageMinute.name, minutes), (PartitionedTable.usageHour.name, hours)] {
            if sums.isEmpty { continue }
            // Sorted: replicas update shared rows in the same order, so they cannot deadlock.
            let slots = sums.keys.sorted()
            var bindings = PostgresBindings()
            bindings.append(slots.map(\.container))
            bindings.append(slots.map(\.start))
            for column in UsageFields.names.indices { bindings.append(slots.map { sums[$0]![column] }) }
            let names = UsageFields.names
            let sql = """
                INSERT INTO \(table) (container_id, start, \(names.joined(separator: ", ")))
                SELECT * FROM unnest(\((1...(names.count + 2)).map { "$\($0)::bigint[]" }.joined(separator: ", ")))
                ON CONFLICT (start, container_id) DO UPDATE SET \(names.map { "\($0) = \(table).\($0) + excluded.\($0)" }.joined(separator: ", "))
                """
            try await db.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        }
        try await add(rollup, db, logger: logger)
    }

    private static func add(_ rollup: NamespaceRollup.Sums, _ db: PostgresConnection, logger: Logger) async throws {
        if rollup.isEmpty { return }
        for (table, sums) in rollup.sorted {
            var bindings = PostgresBindings()
            bindings.append(sums.map(\.slot.start))
            bindings.append(sums.map(\.slot.cluster))
            bindings.append(sums.map(\.slot.namespace))
            for column in UsageFields.names.indices { bindings.append(sums.map { $0.values[column] }) }
            let names = UsageFields.names
            let sql = """
                INSERT INTO \(table) (start, cluster, namespace, \(names.joined(separator: ", ")))
                SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], \((4...(names.count + 3)).map { "$\($0)::bigint[]" }.joined(separator: ", ")))
                ON CONFLICT (start, cluster, namespace) DO UPDATE SET \(names.map { "\($0) = \(table).\($0) + excluded.\($0)" }.joined(separator: ", "))
                """
            try await db.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        }
    }

    private static func add<Slot: Hashable>(_ values: [Int64], to sums: inout [Slot: [Int64]], at slot: Slot) throws {
        if sums[slot] == nil {
            sums[slot] = values
        } else {
            try UsageFields.add(&sums[slot]!, values)
        }
    }
}
