import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

extension SQLiteStore {
    // MARK: Ingest

    public func ingest(_ records: [IngestRecord]) async throws -> [IngestOutcome] {
        if records.isEmpty { return [] }
        return try await withWriter { session in
            var learned: [ContainerKey: KnownContainer] = [:]
            let outcomes = try session.db.transaction(.immediate) {
                try IngestTransaction(session: session).run(records, learned: &learned)
            }
            // Only after COMMIT: a rolled-back transaction's new container ids do not exist.
            session.remember(learned)
            return outcomes
        }
    }

    // MARK: Queries

    public func costs(_ query: CostQuery) async throws -> [CostGroup] {
        if NamespaceRollup.answers(query) {
            let statement = NamespaceRollup.costsSQL(query, parameter: { "?\($0)" }, integer: "", collation: "")
            return try await costGroups(statement.sql, statement.integers.map { .integer($0) } + statement.texts.map { .text($0) })
        }
        var bindings: [SQLiteValue] = [.integer(query.range.startUnixMillis), .integer(query.range.endUnixMillis)]
        let groupName = query.aggregation.groupNameSQL { key in
            // Matching json_each's key (rather than building a JSON path) takes any key as it is.
            bindings.append(.text(key))
            return "coalesce((SELECT value FROM json_each(c.labels_json) WHERE key = ?3), '\(unlabelledGroup)')"
        }
        let filter = Self.filterSQL(query.filter, bindings: &bindings)
        let columns = UsageColumns.names
        // Sum per container first, so that the group expression (JSON for labels) runs once per
        // container rather than once per row; then sum the containers of each group.
        let idle = "sum(CASE WHEN c.namespace = '\(IdleIdentity.name)' THEN \(UsageColumns.computeCostNames.map { "s.\($0)" }.joined(separator: " + ")) ELSE 0 END)"
        let sql = """
            SELECT \(groupName) AS name, \(columns.map { "sum(s.\($0))" }.joined(separator: ", ")), \(idle)
            FROM (
                SELECT u.container_id AS container_id, \(columns.map { "sum(u.\($0)) AS \($0)" }.joined(separator: ", "))
                FROM \(query.resolution.table) AS u\(filter.isEmpty ? "" : " JOIN containers AS c ON c.id = u.container_id")
                WHERE u.start >= ?1 AND u.start < ?2\(filter)
                GROUP BY u.container_id
            ) AS s JOIN containers AS c ON c.id = s.container_id
            GROUP BY name
            ORDER BY \(UsageColumns.costNames.map { "sum(s.\($0))" }.joined(separator: " + ")) DESC, name
            """
        return try await costGroups(sql, bindings)
    }

    /// Runs a cost statement whose columns are the group's name, `UsageColumns.names`, then idle.
    private func costGroups(_ sql: String, _ bindings: [SQLiteValue]) async throws -> [CostGroup] {
        try await read { db in
            try db.query(sql, bindings) { row in
                let (usage, cost) = UsageColumns.read(row, from: 1)
                return CostGroup(name: row.text(at: 0), usage: usage, cost: cost, idle: Money(nanoUSD: row.int64(at: Int32(UsageColumns.names.count + 1))))
            }
        }
    }

    public func series(_ query: SeriesQuery) async throws -> [SeriesBucket] {
        guard query.stepMillis > 0 else {
            throw StoreError(.backend, "series step must be a positive number of milliseconds, got \(query.stepMillis)")
        }
        var bindings: [SQLiteValue] = [
            .integer(query.range.startUnixMillis), .integer(query.range.endUnixMillis), .integer(query.stepMillis),
        ]
        let filter = Self.filterSQL(query.filter, bindings: &bindings)
        let sql = """
            SELECT u.start - ((u.start - ?1) % ?3) AS bucket, \(UsageColumns.names.map { "sum(u.\($0))" }.joined(separator: ", "))
            FROM \(query.resolution.table) AS u\(filter.isEmpty ? "" : " JOIN containers AS c ON c.id = u.container_id")
            WHERE u.start >= ?1 AND u.start < ?2\(filter)
            GROUP BY bucket
            ORDER BY bucket
            """
        return try await read { [bindings] db in
            try db.query(sql, bindings) { row in
                let (usage, cost) = UsageColumns.read(row, from: 1)
                return SeriesBucket(startMillis: row.int64(at: 0), usage: usage, cost: cost)
            }
        }
    }

    public func lastBatchTimes() async throws -> [String: Int64] {
        let rows = try await read { db in
            try db.query("SELECT cluster, last_batch_at FROM cluster_activity") { ($0.text(at: 0), $0.int64(at: 1)) }
        }
        return Dictionary(rows, uniquingKeysWith: max)
    }

    public func gaps(cluster: String, limit: Int) async throws -> [GapRecord] {
        guard limit > 0 else { return [] }
        return try await read { db in
            try db.query(
                """
                SELECT node, agent_instance, seq, reported_at, dropped_ticks, dropped_batches FROM gaps
                WHERE cluster = ?1 ORDER BY reported_at DESC, id DESC LIMIT ?2
                """,
                [.text(cluster), .integer(Int64(limit))]
            ) { row in
                GapRecord(
                    cluster: cluster, node: row.text(at: 0), agentInstanceID: row.text(at: 1),
                    sequence: UInt64(bitPattern: row.int64(at: 2)), reportedAtMillis: row.int64(at: 3),
                    droppedTicks: UInt64(bitPattern: row.int64(at: 4)), droppedBatches: UInt64(bitPattern: row.int64(at: 5))
                )
            }
        }
    }

    public func batchCount() async throws -> Int {
        try await read { db in
            try db.queryFirst("SELECT coalesce(sum(batch_count), 0) FROM cluster_activity") { Int($0.int64(at: 0)) } ?? 0
        }
    }

    // MARK: Maintenance

    public func deleteRows(resolution: Resolution, beforeMillis: Int64) async throws -> Int {
        try await write { db in
            if resolution == .minute { try db.run("DELETE FROM node_minutes WHERE start < ?1", [.integer(beforeMillis)]) }
            // The rollup's rows have the hour rows' starts: the same cut keeps the two equal.
            if resolution == .hour {
                try db.run("DELETE FROM \(NamespaceRollup.table) WHERE start < ?1", [.integer(beforeMillis)])
                for sql in NamespaceRollup.dayRetentionSQL(cut: "?1", integer: "") { try db.run(sql, [.integer(beforeMillis)]) }
            }
            return try db.run("DELETE FROM \(resolution.table) WHERE start < ?1", [.integer(beforeMillis)])
        }
    }

    public func deleteBatchKeys(windowEndBeforeMillis: Int64) async throws -> Int {
        try await write { db in
            try db.run("DELETE FROM batches WHERE window_end < ?1", [.integer(windowEndBeforeMillis)])
        }
    }

    /// ` AND c.column = ?N` for each set field of `filter`, appending the values to `bindings`.
    private static func filterSQL(_ filter: RowFilter, bindings: inout [SQLiteValue]) -> String {
        var sql = ""
        let fields = [
            ("cluster", filter.cluster), ("node", filter.node), ("namespace", filter.namespace),
            ("pod", filter.pod), ("container", filter.container),
        ]
        for case let (column, value?) in fields {
            bindings.append(.text(value))
            sql += " AND c.\(column) = ?\(bindings.count)"
        }
        return sql
    }
}

/// The group name of rows without the label a `label:KEY` query groups by.
let unlabelledGroup = "__unlabelled__"

extension Resolution {
    var table: String {
        switch self {
        case .minute: "usage_minute"
        case .hour: "usage_hour"
        }
    }
}

/// The usage and cost columns of `usage_minute` / `usage_hour`, in the order every statement
/// binds and reads them: `Usage`'s fields, then `Cost`'s, network classes in
/// `NetworkClass.allCases` order.
enum UsageColumns {
    static let usageNames = UsageFields.usageNames
    static let costNames = UsageFields.costNames
    /// The cost columns that make up a node's price (what idle is part of).
    static let computeCostNames = UsageFields.computeCostNames
    static let names = UsageFields.names

    /// Binds `usage` and `cost` to parameters `first`, `first + 1`, ... (`names.count` of them).
    static func bind(_ usage: Usage, _ cost: Cost, to statement: SQLiteStatement, from first: Int32) throws {
        let classes = NetworkClass.allCases.count
        guard usage.networkEgressBytes.count == classes, cost.networkByClass.count == classes else {
            throw StoreError(
                .backend,
                "a usage row has \(usage.networkEgressBytes.count) network usage and \(cost.networkByClass.count) network cost values; expected \(classes) of each"
            )
        }
        var index = first
        func next(_ value: Int64) throws {
            try statement.bind(value, at: index)
            index += 1
        }
        try next(usage.cpuCoreNanos)
        try next(usage.cpuRequestCoreNanos)
        try next(usage.memoryByteSeconds)
        try next(usage.memoryRequestByteSeconds)
        for bytes in usage.networkEgressBytes { try next(bytes) }
        try next(usage.sampledMillis)
        try next(usage.gpuRequestMillis)
        try next(usage.storageRequestByteSeconds)
        try next(cost.cpu.nanoUSD)
        try next(cost.ram.nanoUSD)
        for money in cost.networkByClass { try next(money.nanoUSD) }
        try next(cost.gpu.nanoUSD)
        try next(cost.storage.nanoUSD)
    }

    /// Reads `names.count` columns starting at `first`.
    static func read(_ row: SQLiteStatement, from first: Int32) -> (Usage, Cost) {
        var index = first
        func next() -> Int64 {
            defer { index += 1 }
            return row.int64(at: index)
        }
        let classes = NetworkClass.allCases.indices
        let usage = Usage(
            cpuCoreNanos: next(), cpuRequestCoreNanos: next(), memoryByteSeconds: next(), memoryRequestByteSeconds: next(),
            networkEgressBytes: classes.map { _ in next() }, sampledMillis: next(), gpuRequestMillis: next(), storageRequestByteSeconds: next()
        )
        let cost = Cost(
            cpu: Money(nanoUSD: next()), ram: Money(nanoUSD: next()), networkByClass: classes.map { _ in Money(nanoUSD: next()) },
            gpu: Money(nanoUSD: next()), storage: Money(nanoUSD: next())
        )
        return (usage, cost)
    }

    /// `INSERT ... ON CONFLICT DO UPDATE` that adds a row into `table`: a row whose primary key
    /// exists gets every value added to it. Parameters: `keys`, then `names`.
    static func addSQL(into table: String, keys: [String] = ["container_id", "start"], primaryKey: [String] = ["start", "container_id"]) -> String {
        let parameters = (1...(names.count + keys.count)).map { "?\($0)" }.joined(separator: ", ")
        return """
            INSERT INTO \(table) (\((keys + names).joined(separator: ", "))) VALUES (\(parameters))
            ON CONFLICT (\(primaryKey.joined(separator: ", "))) DO UPDATE SET \(names.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }
}

/// One `ingest` call's statements, run inside its transaction on the writer.
struct IngestTransaction {
    let session: WriterSession

    static let insertBatch = """
        INSERT INTO batches (cluster, agent_instance, seq, node, received_at, window_start, window_end, samples)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING
        """
    static let recordActivity = """
        INSERT INTO cluster_activity (cluster, last_batch_at, batch_count) VALUES (?1, ?2, 1)
        ON CONFLICT (cluster) DO UPDATE SET last_batch_at = max(last_batch_at, excluded.last_batch_at), batch_count = batch_count + 1
        """
    static let upsertContainer = """
        INSERT INTO containers (cluster, node, namespace, pod, container, labels_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (cluster, node, namespace, pod, container) DO UPDATE SET labels_json = excluded.labels_json
        RETURNING id
        """
    static let updateLabels = "UPDATE containers SET labels_json = ?2 WHERE id = ?1"
    static let insertGap = """
        INSERT INTO gaps (cluster, node, agent_instance, seq, reported_at, dropped_ticks, dropped_batches)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
        """
    static let addMinute = UsageColumns.addSQL(into: Resolution.minute.table)
    static let addHour = UsageColumns.addSQL(into: Resolution.hour.table)
    static func addRollup(_ table: String) -> String {
        UsageColumns.addSQL(into: table, keys: ["start", "cluster", "namespace"], primaryKey: ["start", "cluster", "namespace"])
    }

    /// Stores each record not stored before; `learned` gets every container id it looked up.
    func run(_ records: [IngestRecord], learned: inout [ContainerKey: KnownContainer]) throws -> [IngestOutcome] {
        let db = session.db
        let insertBatch = try db.statement(Self.insertBatch)
        let rows = try RowStatements(db)
        var rollup = NamespaceRollup.Sums()
        var outcomes: [IngestOutcome] = []
        outcomes.reserveCapacity(records.count)

        for record in records {
            do {
                outcomes.append(try store(record, insertBatch: insertBatch, rows: rows, rollup: &rollup, learned: &learned))
            } catch var error as SQLiteError {
                // Say which batch, and what a datatype error on a usage column means.
                let overflow = error.resultCode == SQLiteError.constraintDatatype ? "a sum leaves the Int64 range: " : ""
                error.message = "\(Self.describe(record)): \(overflow)\(error.message)"
                throw error
            } catch let error as StoreError {
                throw StoreError(error.code, "\(Self.describe(record)): \(error.message)")
            }
        }
        try write(rollup, what: "storing \(records.count) batches")
        return outcomes
    }

    private static func describe(_ record: IngestRecord) -> String {
        "storing batch \(record.sequence) of agent \"\(record.agentInstanceID)\" of cluster \"\(record.cluster)\""
    }

    private func store(
        _ record: IngestRecord, insertBatch: SQLiteStatement, rows: RowStatements, rollup: inout NamespaceRollup.Sums,
        learned: inout [ContainerKey: KnownContainer]
    ) throws -> IngestOutcome {
        let db = session.db
        // The batch key first: an existing key (stored before, or earlier in `records`,
        // which this transaction already sees) makes the insert a no-op.
        try insertBatch.bind(record.cluster, at: 1)
        try insertBatch.bind(record.agentInstanceID, at: 2)
        try insertBatch.bind(Int64(bitPattern: record.sequence), at: 3)
        try insertBatch.bind(record.node, at: 4)
        try insertBatch.bind(record.receivedAtMillis, at: 5)
        try insertBatch.bind(record.windowStartMillis, at: 6)
        try insertBatch.bind(record.windowEndMillis, at: 7)
        try insertBatch.bind(Int64(record.sampleCount), at: 8)
        try insertBatch.execute()
        if db.changes == 0 { return .duplicate }
        try db.run(Self.recordActivity, [.text(record.cluster), .integer(record.receivedAtMillis)])

        for row in record.rows {
            let containerID = try containerID(for: row, learned: &learned)
            try add(row, containerID: containerID, minute: alignedDown(row.startMillis, to: Resolution.minute.millis), rows, rollup: &rollup)
        }

        for minute in record.nodeMinutes {
            try db.run(NodeMinuteColumns.addSQL, NodeMinuteColumns.values(minute))
        }

        if record.droppedTicks > 0 || record.droppedBatches > 0 {
            try db.run(Self.insertGap, [
                .text(record.cluster), .text(record.node), .text(record.agentInstanceID),
                .integer(Int64(bitPattern: record.sequence)), .integer(record.receivedAtMillis),
                .integer(Int64(bitPattern: record.droppedTicks)), .integer(Int64(bitPattern: record.droppedBatches)),
            ])
        }
        if let audit = record.audit { _ = try SQLiteStore.appendAudit(db, [audit]) }
        return .committed
    }

    /// The prepared upserts of the minute and hour rows.
    struct RowStatements {
        let minute: SQLiteStatement
        let hour: SQLiteStatement

        init(_ db: SQLiteConnection) throws {
            minute = try db.statement(IngestTransaction.addMinute)
            hour = try db.statement(IngestTransaction.addHour)
        }
    }

    /// Adds `row` to its minute (starting at `minute`) and to its hour, and its values to
    /// `rollup`, which `write(_:what:)` stores before the transaction commits.
    func add(_ row: UsageRow, containerID: Int64, minute: Int64, _ statements: RowStatements, rollup: inout NamespaceRollup.Sums) throws {
        let hour = alignedDown(minute, to: Resolution.hour.millis)
        for (statement, start) in [(statements.minute, minute), (statements.hour, hour)] {
            try statement.bind(containerID, at: 1)
            try statement.bind(start, at: 2)
            try UsageColumns.bind(row.usage, row.cost, to: statement, from: 3)
            try statement.execute()
        }
        try rollup.add(row.key, hourStart: hour, UsageFields.values(row.usage, row.cost))
    }

    /// Adds `rollup`'s sums to the namespace rollup; `what` names the change in an error.
    func write(_ rollup: NamespaceRollup.Sums, what: String) throws {
        if rollup.isEmpty { return }
        do {
            for (table, sums) in rollup.sorted {
                let statement = try session.db.statement(Self.addRollup(table))
                for (slot, values) in sums {
                    try statement.bind(slot.start, at: 1)
                    try statement.bind(slot.cluster, at: 2)
                    try statement.bind(slot.namespace, at: 3)
                    for (i, value) in values.enumerated() { try statement.bind(value, at: Int32(i + 4)) }
                    try statement.execute()
                }
            }
        } catch var error as SQLiteError {
            let overflow = error.resultCode == SQLiteError.constraintDatatype ? "a namespace's hourly or daily sum leaves the Int64 range: " : ""
            error.message = "\(what): \(overflow)\(error.message)"
            throw error
        }
    }

    /// The row's container id, inserting the container or updating its labels as needed.
    func containerID(for row: UsageRow, learned: inout [ContainerKey: KnownContainer]) throws -> Int64 {
        let db = session.db
        if let known = learned[row.key] ?? session.knownContainers[row.key] {
            if known.labels != row.labels {
                try db.run(Self.updateLabels, [.integer(known.id), .text(LabelsJSON.encode(row.labels))])
                learned[row.key] = KnownContainer(id: known.id, labels: row.labels)
            }
            return known.id
        }
        let key = row.key
        let id = try db.queryFirst(Self.upsertContainer, [
            .text(key.cluster), .text(key.node), .text(key.namespace), .text(key.pod), .text(key.container),
            .text(LabelsJSON.encode(row.labels)),
        ]) { $0.int64(at: 0) }
        guard let id else { throw StoreError(.backend, "SQLite database \(db.path): upserting a container returned no id") }
        learned[key] = KnownContainer(id: id, labels: row.labels)
        return id
    }
}

/// The start of the `step`-long interval containing `t` (also for times before 1970).
func alignedDown(_ t: Int64, to step: Int64) -> Int64 {
    let r = t % step
    return r < 0 ? t - r - step : t - r
}
