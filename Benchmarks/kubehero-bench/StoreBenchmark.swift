import ArgumentParser
import Foundation
import KubeHeroCore
import KubeHeroStore
import KubeHeroStorePostgres
import KubeHeroStoreSQLite
import Logging
import NIOCore
import PostgresNIO

/// `kubehero-bench store`: the two backends side by side in one run, in-process, on the same
/// rows. Ingest: the same batches through `SQLiteStore.ingest` and `PostgresStore.ingest`, and
/// the same minute rows bulk-loaded with PostgreSQL's COPY (the physical limit), with ratios.
/// Query: the `/v1/costs` query by namespace over 30 days of hour rows of a cluster, answered
/// from the namespace rollup (filled by its migrations' back-fill statements) and checked
/// against the per-container hour rows and across the backends.
struct StoreBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "SQLite vs PostgreSQL: ingest rows/s (and COPY of the same rows), and /v1/costs p95 over 30 days by namespace."
    )

    @Option(help: "PostgreSQL server (a scratch database is created on it and dropped afterwards).")
    var postgres = ProcessInfo.processInfo.environment["KUBEHERO_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:55432/postgres"

    @Option(help: "Ingest: nodes (one batch per node per minute).")
    var nodes = 20

    @Option(help: "Ingest: containers per node.")
    var containers = 100

    @Option(help: "Ingest: minutes of batches per node.")
    var minutes = 30

    @Option(help: "Ingest: batches per ingest call (the hub's group commit).")
    var group = 8

    @Option(help: "Query: containers of the cluster.")
    var queryContainers = 10_000

    @Option(help: "Query: days of hour rows.")
    var days = 30

    @Option(help: "Query: namespaces the containers are spread over.")
    var namespaces = 50

    @Option(help: "Query: timed repetitions per backend.")
    var repetitions = 20

    @Flag(help: "Skip the query part.")
    var ingestOnly = false

    @Flag(help: "Skip the ingest part.")
    var queryOnly = false

    static let t0: Int64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z

    func run() async throws {
        var logger = Logger(label: "kubehero-bench")
        logger.logLevel = .warning
        let server = try PostgresStoreConfiguration(url: postgres)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-bench-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // One scratch database per part, so that neither sees the other's rows.
        let stamp = UInt64(Date().timeIntervalSince1970)
        for (part, enabled) in [("ingest", !queryOnly), ("query", !ingestOnly)] where enabled {
            let scratch = "kubehero_bench_\(part)_\(stamp)"
            try await Self.admin(server, "CREATE DATABASE \(scratch)", logger: logger)
            do {
                var target = server
                target.database = scratch
                if part == "ingest" {
                    try await ingest(sqlitePath: dir + "/ingest.sqlite", postgres: target, logger: logger)
                } else {
                    try await query(sqlitePath: dir + "/query.sqlite", postgres: target, logger: logger)
                }
            } catch {
                try? await Self.admin(server, "DROP DATABASE \(scratch) WITH (FORCE)", logger: logger)
                throw error
            }
            try await Self.admin(server, "DROP DATABASE \(scratch) WITH (FORCE)", logger: logger)
        }
    }

    // MARK: Ingest

    /// One minute of `containers` rows per node and minute, in batches of one node each.
    func records(firstMinute: Int64) -> [IngestRecord] {
        var out: [IngestRecord] = []
        for minute in 0..<minutes {
            for node in 0..<nodes {
                let start = firstMinute + Int64(minute) * 60_000
                let rows = (0..<containers).map { c in
                    UsageRow(
                        key: ContainerKey(cluster: "bench", node: "node-\(node)", namespace: "ns-\(c % 20)", pod: "pod-\(node)-\(c)", container: "app"),
                        labels: ["team": "t\(c % 7)", "app": "app-\(c % 50)"], startMillis: start,
                        usage: Usage(cpuCoreNanos: 30_000_000_000 + Int64(c), cpuRequestCoreNanos: 6_000_000_000, memoryByteSeconds: 60 << 30,
                                     memoryRequestByteSeconds: 60 << 29, networkEgressBytes: [1 << 20, 1 << 18, 1 << 16, 1 << 14, 1 << 12], sampledMillis: 60_000),
                        cost: Cost(cpu: Money(nanoUSD: 520_785), ram: Money(nanoUSD: 69_804), networkByClass: [0, 0, 9_765, 1_464, 78].map(Money.init(nanoUSD:)))
                    )
                }
                out.append(IngestRecord(
                    cluster: "bench", agentInstanceID: "agent-\(node)", sequence: UInt64(minute + 1), node: "node-\(node)",
                    receivedAtMillis: start + 61_000, windowStartMillis: start, windowEndMillis: start + 60_000, sampleCount: containers * 60, rows: rows
                ))
            }
        }
        return out
    }

    func ingest(sqlitePath: String, postgres: PostgresStoreConfiguration, logger: Logger) async throws {
        let all = records(firstMinute: Self.t0)
        let rowCount = all.reduce(0) { $0 + $1.rows.count }
        print("ingest: \(all.count) batches (\(nodes) nodes x \(minutes) minutes) of \(containers) container rows = \(rowCount) rows, \(group) batches per transaction")
        // The first minute warms each store up (containers registered); the rest is timed.
        let warm = Array(all.prefix(nodes)), timed = Array(all.dropFirst(nodes))
        let timedRows = timed.reduce(0) { $0 + $1.rows.count }

        let sqlite = try await SQLiteStore.open(path: sqlitePath, logger: logger)
        let sqliteSeconds = try await Self.ingest(into: sqlite, warm: warm, timed: timed, group: group)
        try await sqlite.close()

        let pg = try await PostgresStore.open(postgres, logger: logger)
        let pgSeconds = try await Self.ingest(into: pg, warm: warm, timed: timed, group: group)
        try await pg.close()
        let bytesPerRow = try await Self.bytesPerMinuteRow(postgres, logger: logger)

        let copySeconds = try await Self.copy(timed, into: postgres, logger: logger)

        func line(_ name: String, _ seconds: Double) -> String {
            name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%8.2f s  %9.0f rows/s", seconds, Double(timedRows) / seconds)
        }
        print(line("SQLiteStore.ingest", sqliteSeconds))
        print(line("PostgresStore.ingest", pgSeconds))
        print(line("PostgreSQL COPY (same minute rows)", copySeconds))
        print(String(format: "ratio PostgreSQL / SQLite:  %.2f", sqliteSeconds / pgSeconds))
        print(String(format: "ratio PostgreSQL / COPY:    %.2f", copySeconds / pgSeconds))
        print("PostgreSQL minute rows on disk: \(bytesPerRow) bytes per row (table and primary key)")
    }

    static func ingest(into store: any HubStore, warm: [IngestRecord], timed: [IngestRecord], group: Int) async throws -> Double {
        _ = try await store.ingest(warm)
        let clock = ContinuousClock()
        let start = clock.now
        var index = 0
        while index < timed.count {
            let slice = Array(timed[index..<min(index + group, timed.count)])
            let outcomes = try await store.ingest(slice)
            guard outcomes.allSatisfy({ $0 == .committed }) else { throw ValidationError("a benchmark batch was a duplicate") }
            index += group
        }
        return seconds(clock.now - start)
    }

    /// The minute rows of `records`, as the stores write them, with COPY into a table shaped
    /// like `usage_minute` (same columns and primary key, unpartitioned), in one transaction
    /// per `group` like the stores.
    static func copy(_ records: [IngestRecord], into postgres: PostgresStoreConfiguration, logger: Logger) async throws -> Double {
        let connection = try await connect(postgres, logger: logger)
        do {
            let seconds = try await copy(records, on: connection, logger: logger)
            try await connection.close()
            return seconds
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private static func copy(_ records: [IngestRecord], on connection: PostgresConnection, logger: Logger) async throws -> Double {
        try await connection.query("CREATE TABLE copy_target (LIKE usage_minute INCLUDING DEFAULTS)", logger: logger)
        try await connection.query("ALTER TABLE copy_target ADD PRIMARY KEY (start, container_id)", logger: logger)
        // Container ids as the store gave them: one per (node, pod), numbered here.
        var ids: [ContainerKey: Int64] = [:]
        var lines: [ByteBuffer] = []
        for record in records {
            var text = ""
            for row in record.rows {
                let id = ids[row.key] ?? Int64(ids.count + 1)
                ids[row.key] = id
                let values = try UsageFields.values(row.usage, row.cost)
                text += "\(id)\t\(row.startMillis)\t" + values.map(String.init).joined(separator: "\t") + "\n"
            }
            lines.append(ByteBuffer(string: text))
        }
        let clock = ContinuousClock()
        let start = clock.now
        for line in lines {
            try await connection.query("BEGIN", logger: logger)
            try await connection.copyFrom(table: "copy_target", columns: ["container_id", "start"] + UsageFields.names, logger: logger) { writer in
                try await writer.write(line)
            }
            try await connection.query("COMMIT", logger: logger)
        }
        return seconds(clock.now - start)
    }

    // MARK: Query

    func query(sqlitePath: String, postgres: PostgresStoreConfiguration, logger: Logger) async throws {
        let hours = days * 24
        print("")
        print("query: \(queryContainers) containers in \(namespaces) namespaces x \(days) days of hour rows = \(queryContainers * hours) rows per backend; loading...")
        let range = TimeRange(startUnixMillis: Self.t0, endUnixMillis: Self.t0 + Int64(hours) * 3_600_000)
        let query = CostQuery(range: range, aggregation: .namespace, resolution: .hour)
        let clock = ContinuousClock()

        // Schemas from the stores themselves; one small batch per week through each store's own
        // ingest makes the same seed rows in both and, in PostgreSQL, the weeks' partitions.
        let sqlite = try await SQLiteStore.open(path: sqlitePath, logger: logger)
        let pg = try await PostgresStore.open(postgres, logger: logger)
        let seeds = stride(from: 0, to: hours, by: 24 * 7).enumerated().map { n, h in
            let start = Self.t0 + Int64(h) * 3_600_000
            return IngestRecord(
                cluster: "big", agentInstanceID: "seed", sequence: UInt64(n + 1), node: "seed", receivedAtMillis: start + 60_000,
                windowStartMillis: start, windowEndMillis: start + 60_000, sampleCount: 60,
                rows: [UsageRow(key: ContainerKey(cluster: "big", node: "seed", namespace: "seed", pod: "seed", container: "seed"),
                                labels: [:], startMillis: start, usage: Usage(sampledMillis: 60_000), cost: Cost(cpu: Money(nanoUSD: 1)))]
            )
        }
        for store in [sqlite as any HubStore, pg as any HubStore] { _ = try await store.ingest(seeds) }
        try await sqlite.close()

        // The bulk rows, generated inside each database (the same SQL but for the series).
        let costCPU = "31247101 + (c % 100)"
        let values = "c + 2, \(Self.t0) + CAST(h AS BIGINT) * 3600000, 3600000000000, 0, 0, 0, 0, 0, 0, 0, 3600000, 0, 0, \(costCPU), 4188225, 0, 0, 0, 0, 0, 0"
        let columns = "container_id, start, " + UsageFields.names.joined(separator: ", ")
        let containersSQL = "INSERT INTO containers (cluster, node, namespace, pod, container, %@) SELECT 'big', 'node-' || (c / 100), 'ns-' || (c %% \(namespaces)), 'pod-' || c, 'app', '{}' FROM %@ ORDER BY c"

        var start = clock.now
        let sqliteScript = """
            PRAGMA journal_mode = WAL;
            BEGIN;
            WITH RECURSIVE s(c) AS (SELECT 0 UNION ALL SELECT c + 1 FROM s WHERE c < \(queryContainers - 1))
            \(String(format: containersSQL, "labels_json", "s"));
            WITH RECURSIVE hs(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM hs WHERE h < \(hours - 1)),
                s(c) AS (SELECT 0 UNION ALL SELECT c + 1 FROM s WHERE c < \(queryContainers - 1))
            INSERT INTO usage_hour (\(columns)) SELECT \(values) FROM hs, s ORDER BY h, c;
            DELETE FROM \(NamespaceRollup.table);
            DELETE FROM \(NamespaceRollup.dayTable);
            \(NamespaceRollup.fillSQL(integer: "").map { $0 + ";" }.joined(separator: "\n"))
            COMMIT;
            """
        try Self.sqlite3(sqlitePath, sqliteScript)
        print("  SQLite: loaded in \(String(format: "%.1f", Self.seconds(clock.now - start))) s (sqlite3; the namespace rollup by the migration's back-fill statement)")
        start = clock.now
        // Container ids: the seed container is 1, the bulk ones 2, 3, ... (`c + 2`) in both.
        try await Self.admin(postgres, String(format: containersSQL, "labels", "generate_series(0, \(queryContainers - 1)) AS c"), logger: logger)
        try await Self.admin(postgres, """
            INSERT INTO usage_hour (\(columns)) SELECT \(values)
            FROM generate_series(0, \(hours - 1)) AS h, generate_series(0, \(queryContainers - 1)) AS c ORDER BY h, c
            """, logger: logger)
        // The seeds' rollup rows are summed again with the rest (their partitions stay).
        for table in [NamespaceRollup.table, NamespaceRollup.dayTable] { try await Self.admin(postgres, "DELETE FROM \(table)", logger: logger) }
        for sql in NamespaceRollup.fillSQL(integer: "::bigint") { try await Self.admin(postgres, sql, logger: logger) }
        try await Self.analyze(postgres, logger: logger)
        print("  PostgreSQL: loaded in \(String(format: "%.1f", Self.seconds(clock.now - start))) s (INSERT ... SELECT generate_series, the rollup's back-fill, ANALYZE)")

        let reopened = try await SQLiteStore.open(path: sqlitePath, logger: logger)
        // The window as the benchmark's rows lie (whole UTC days), and the same length from 13:00:
        // whole days from the day rollup and the partial days' hours from the hour rollup.
        let shifted = TimeRange(startUnixMillis: range.startUnixMillis + 13 * 3_600_000, endUnixMillis: range.endUnixMillis + 13 * 3_600_000)
        for (label, window) in [("whole days", range), ("from 13:00", shifted)] {
            var windowQuery = query
            windowQuery.range = window
            try await timeQuery(windowQuery, label: label, stores: [("SQLite", reopened), ("PostgreSQL", pg)])
        }
        try await reopened.close()
        try await pg.close()
    }

    /// Times `query` on each store (`repetitions` runs after a warm-up); every answer must equal
    /// the first store's, and each store's answer from the per-container hour rows (once).
    func timeQuery(_ query: CostQuery, label: String, stores: [(String, any HubStore)]) async throws {
        let clock = ContinuousClock()
        var expected: [CostGroup]?
        for (name, store) in stores {
            var timings: [Double] = []
            _ = try await store.costs(query)  // warm the cache
            for _ in 0..<repetitions {
                let start = clock.now
                let groups = try await store.costs(query)
                timings.append(Self.seconds(clock.now - start) * 1000)
                if let expected, groups != expected {
                    let first = zip(groups, expected).first { $0 != $1 }.map { "\($0.0) vs \(stores[0].0)'s \($0.1)" } ?? "\(groups.count) vs \(expected.count) groups"
                    throw ValidationError("\(name) answered differently from \(stores[0].0): \(first)")
                }
                if expected == nil { expected = groups }
            }
            timings.sort()
            let p95 = timings[min(timings.count - 1, Int((Double(timings.count) * 0.95).rounded(.up)) - 1)]
            print(String(format: "  %@ /v1/costs by namespace, %d days, %@: p50 %.1f ms, p95 %.1f ms, max %.1f ms (%d runs, %d groups)",
                         name, days, label, timings[timings.count / 2], p95, timings.last ?? 0, timings.count, expected?.count ?? 0))
            // The same query from every container's hour rows, once: the rollup must answer alike.
            var reference = query
            reference.usesRollup = false
            let start = clock.now
            let perContainer = try await store.costs(reference)
            let referenceMillis = Self.seconds(clock.now - start) * 1000
            guard perContainer == expected else {
                throw ValidationError("\(name): the namespace rollup answered differently from the per-container rows (\(label))")
            }
            print(String(format: "  %@ the same from the per-container hour rows: %.0f ms (once), equal to the rollup's answer", name, referenceMillis))
        }
    }

    /// Runs an SQL script with the `sqlite3` shell (Debian's sqlite3 package).
    static func sqlite3(_ path: String, _ script: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path]
        let input = Pipe()
        p.standardInput = input
        try p.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("sqlite3 \(path) failed with status \(p.terminationStatus)") }
    }

    // MARK: Helpers

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func connect(_ c: PostgresStoreConfiguration, logger: Logger) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: .init(host: c.host, port: c.port, username: c.username, password: c.password, database: c.database, tls: .disable),
            id: 1, logger: logger
        )
    }

    static func admin(_ c: PostgresStoreConfiguration, _ sql: String, logger: Logger) async throws {
        let connection = try await connect(c, logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close()
            throw ValidationError("\(sql): \(PostgresStore.describe(error))")
        }
        try await connection.close()
    }

    /// Size of `usage_minute`'s partitions with their indexes over their rows.
    static func bytesPerMinuteRow(_ c: PostgresStoreConfiguration, logger: Logger) async throws -> Int64 {
        let connection = try await connect(c, logger: logger)
        do {
            let rows = try await connection.query("""
                SELECT (sum(pg_total_relation_size(i.inhrelid)) / greatest(1, (SELECT count(*) FROM usage_minute)))::bigint
                FROM pg_inherits AS i WHERE i.inhparent = 'usage_minute'::regclass
                """, logger: logger).collect()
            try await connection.close()
            return try rows.first?.decode(Int64.self) ?? 0
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Fresh statistics, as autovacuum would have them on a database that has been running.
    static func analyze(_ c: PostgresStoreConfiguration, logger: Logger) async throws {
        try await admin(c, "ANALYZE", logger: logger)
    }
}
