import KubeHeroStore
import Logging
import PostgresNIO
import Synchronization

/// A table partitioned by range of `start` (Unix ms) into fixed spans aligned to the epoch,
/// one partition per span, named after the UTC date the span starts on
/// (`usage_minute_p20231114`).
struct PartitionedTable: Hashable, Sendable {
    let name: String
    let spanMillis: Int64
    /// How many spans past the current one are made ahead of time.
    let ahead: Int64

    static let day: Int64 = 86_400_000
    static let usageMinute = PartitionedTable(name: "usage_minute", spanMillis: day, ahead: 3)
    static let usageHour = PartitionedTable(name: "usage_hour", spanMillis: 7 * day, ahead: 2)
    /// Written and deleted with the hour rows, so partitioned like them.
    static let namespaceHour = PartitionedTable(name: NamespaceRollup.table, spanMillis: 7 * day, ahead: 2)
    static let namespaceDay = PartitionedTable(name: NamespaceRollup.dayTable, spanMillis: 7 * day, ahead: 2)
    /// Deleted with the minute rows, so partitioned like them.
    static let nodeMinutes = PartitionedTable(name: "node_minutes", spanMillis: day, ahead: 3)
    static let all = [usageMinute, usageHour, namespaceHour, namespaceDay, nodeMinutes]

    static func of(_ resolution: Resolution) -> PartitionedTable { resolution == .minute ? .usageMinute : .usageHour }

    func spanStart(_ t: Int64) -> Int64 { alignedDown(t, to: spanMillis) }

    /// `NAME_pYYYYMMDD` for the span starting at `start`.
    func partitionName(_ start: Int64) -> String {
        let (y, m, d) = civilDate(daysSinceEpoch: alignedDown(start, to: Self.day) / Self.day)
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(name)_p\(y)\(two(m))\(two(d))"
    }

    /// The start of the span a partition of this table holds, from its name.
    func spanStart(ofPartition partition: String) -> Int64? {
        let prefix = name + "_p"
        guard partition.hasPrefix(prefix) else { return nil }
        let digits = partition.dropFirst(prefix.count)
        guard digits.count == 8, let ymd = Int64(digits) else { return nil }
        return daysSinceEpoch(year: ymd / 10_000, month: ymd / 100 % 100, day: ymd % 100) * Self.day
    }

    func createSQL(_ start: Int64) -> String {
        "CREATE TABLE IF NOT EXISTS \(partitionName(start)) PARTITION OF \(name) FOR VALUES FROM (\(start)) TO (\(start + spanMillis))"
    }
}

extension PostgresStore {
    /// Reads which partitions exist.
    func loadPartitions() async throws {
        let rows = try await read("listing partitions", """
            SELECT c.relname FROM pg_inherits AS i
            JOIN pg_class AS c ON c.oid = i.inhrelid JOIN pg_class AS p ON p.oid = i.inhparent
            WHERE p.relname = ANY(\(PartitionedTable.all.map(\.name))) AND p.relnamespace = to_regnamespace(current_schema())::oid
            """)
        let names = try rows.map { try $0.decode(String.self) }
        knownPartitions.withLock { $0 = Set(names) }
    }

    /// Makes the partitions of the current span and the next ones (by the database's clock, so
    /// that the store reads no clock of its own). Run at open and by every retention sweep.
    func createPartitionsAhead() async throws {
        let now = try await read("reading the database's clock", "SELECT (extract(epoch FROM now()) * 1000)::bigint").first?.decode(Int64.self) ?? 0
        var needed: [(PartitionedTable, Int64)] = []
        for table in PartitionedTable.all {
            let current = table.spanStart(now)
            for n in 0...table.ahead { needed.append((table, current + n * table.spanMillis)) }
        }
        try await ensurePartitions(needed)
    }

    /// Makes the partitions of `spans` that are not known to exist. Creation takes a
    /// transaction-scoped advisory lock, so that two replicas never race on the catalog.
    func ensurePartitions(_ spans: [(PartitionedTable, Int64)]) async throws {
        let missing = knownPartitions.withLock { known in
            var seen = Set<String>()
            return spans.filter { table, start in
                let name = table.partitionName(start)
                return !known.contains(name) && seen.insert(name).inserted
            }
        }
        if missing.isEmpty { return }
        try await write("creating partitions") { db in
            try await db.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.partitionLockKey))", logger: logger)
            for (table, start) in missing {
                try await db.query(PostgresQuery(unsafeSQL: table.createSQL(start)), logger: logger)
            }
        }
        logger.debug("created partitions", metadata: ["partitions": "\(missing.map { $0.0.partitionName($0.1) })"])
        knownPartitions.withLock { known in
            for (table, start) in missing { known.insert(table.partitionName(start)) }
        }
    }

    /// Deletes `table`'s rows that start before `before`: partitions entirely before it are
    /// dropped whole (counted first), the rest deleted row by row. Returns the rows removed.
    static func deleteBefore(_ before: Int64, in table: PartitionedTable, db: PostgresConnection, logger: Logger) async throws -> (rows: Int, dropped: [String]) {
        let partitions = try await db.query("""
            SELECT c.relname FROM pg_inherits AS i
            JOIN pg_class AS c ON c.oid = i.inhrelid JOIN pg_class AS p ON p.oid = i.inhparent
            WHERE p.relname = \(table.name) AND p.relnamespace = to_regnamespace(current_schema())::oid
            """, logger: logger).collect().map { try $0.decode(String.self) }
        var removed = 0
        var dropped: [String] = []
        for partition in partitions {
            guard let start = table.spanStart(ofPartition: partition), start + table.spanMillis <= before else { continue }
            let count = try await db.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(partition)"), logger: logger)
                .collect().first?.decode(Int64.self) ?? 0
            try await db.query(PostgresQuery(unsafeSQL: "DROP TABLE \(partition)"), logger: logger)
            removed += Int(count)
            dropped.append(partition)
        }
        let deleted = try await db.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table.name) WHERE start < $1 RETURNING 1", binds: {
            var b = PostgresBindings()
            b.append(before)
            return b
        }()), logger: logger).collect().count
        return (removed + deleted, dropped)
    }
}

/// The start of the `step`-long interval containing `t` (also for times before 1970).
func alignedDown(_ t: Int64, to step: Int64) -> Int64 {
    let r = t % step
    return r < 0 ? t - r - step : t - r
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
func civilDate(daysSinceEpoch z0: Int64) -> (Int64, Int64, Int64) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

/// Days since 1970-01-01 of a date (the inverse of `civilDate`).
func daysSinceEpoch(year y0: Int64, month m: Int64, day d: Int64) -> Int64 {
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}
