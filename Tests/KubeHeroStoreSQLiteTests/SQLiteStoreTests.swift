import Foundation
import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
@testable import KubeHeroStoreSQLite
import Testing

/// Opens the file directly, outside any store (tests only: this blocks the calling thread).
func withRawDatabase<T>(_ path: String, _ body: (SQLiteConnection) throws -> T) throws -> T {
    let db = try SQLiteConnection(path: path)
    defer { db.close() }
    return try body(db)
}

private func expectStoreError(_ code: StoreError.Code, mentioning mentions: [String], _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected StoreError .\(code), but it succeeded")
    } catch let error as StoreError {
        #expect(error.code == code, "\(error.message)")
        for mention in mentions {
            #expect(error.message.contains(mention), "the message should mention \(mention): \(error.message)")
        }
    } catch {
        Issue.record("expected StoreError .\(code), got \(error)")
    }
}

private let t0: Int64 = 1_699_999_200_000
private let key = ContainerKey(cluster: "prod", node: "n1", namespace: "payments", pod: "api-1", container: "app")

private func record(sequence: UInt64, agent: String = "agent-1", rows: Int = 1, costPerRow: Int64 = 1_000) -> IngestRecord {
    let rows = (0..<rows).map { i in
        UsageRow(
            key: ContainerKey(cluster: "prod", node: "n1", namespace: "ns-\(i % 10)", pod: "pod-\(i)", container: "app"),
            labels: ["team": "t\(i % 3)"], startMillis: t0 + Int64(sequence % 60) * 60_000,
            usage: Usage(cpuCoreNanos: 1_000_000, sampledMillis: 60_000), cost: Cost(cpu: Money(nanoUSD: costPerRow))
        )
    }
    return IngestRecord(
        cluster: "prod", agentInstanceID: agent, sequence: sequence, node: "n1", receivedAtMillis: t0 + Int64(sequence) * 60_000,
        windowStartMillis: t0, windowEndMillis: t0 + 60_000, sampleCount: rows.count * 60, rows: rows
    )
}

private func totalCost(_ store: SQLiteStore) async throws -> Int64 {
    let groups = try await store.costs(CostQuery(
        range: TimeRange(startUnixMillis: t0, endUnixMillis: t0 + 3_600_000), aggregation: .cluster, resolution: .minute
    ))
    return groups.reduce(0) { $0 + $1.cost.total.nanoUSD }
}

@Suite("SQLiteStore")
struct SQLiteStoreTests {
    @Test func databaseIsInWALMode() async throws {
        try await withTemporaryStore { _, path in
            let mode = try withRawDatabase(path) { try $0.queryFirst("PRAGMA journal_mode") { $0.text(at: 0) } }
            #expect(mode == "wal")
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test func reopeningKeepsEverythingCommitted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/hub.db"
        let cluster = ClusterRecord(name: "prod", cloud: .gcp, region: "europe-west1", labels: ["env": "prod"], createdAtMillis: t0)
        let certificate = CertificateRecord(serialHex: "01", clusterName: "prod", notBeforeMillis: t0, notAfterMillis: t0 + 1, pem: "pem")
        let token = TokenRecord(id: "t", name: "ops", role: .admin, secretHashHex: "ab", createdAtMillis: t0)

        let first = try await SQLiteStore.open(path: path)
        try await first.createCluster(cluster, certificate: certificate, audit: [])
        try await first.createToken(token, audit: [])
        #expect(try await first.ingest([record(sequence: 1, rows: 3)]) == [.committed])
        try await first.close()

        let second = try await SQLiteStore.open(path: path)
        #expect(try await second.cluster(named: "prod") == cluster)
        #expect(try await second.currentCertificate(cluster: "prod") == certificate)
        #expect(try await second.token(secretHashHex: "ab") == token)
        #expect(try await second.batchCount() == 1)
        #expect(try await totalCost(second) == 3_000)
        // The batch key survived too: the re-sent batch is still recognised.
        #expect(try await second.ingest([record(sequence: 1, rows: 3)]) == [.duplicate])
        #expect(try await second.ingest([record(sequence: 2, rows: 3)]) == [.committed])
        #expect(try await totalCost(second) == 6_000)
        try await second.close()
    }

    @Test func migrationsAreRecordedAndAppliedOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/hub.db"
        try await SQLiteStore.open(path: path).close()
        try await SQLiteStore.open(path: path).close()
        let versions = try withRawDatabase(path) { db in
            try db.query("SELECT version, applied_at FROM schema_migrations ORDER BY version") { ($0.int64(at: 0), $0.int64(at: 1)) }
        }
        #expect(versions.map(\.0) == (1...SQLiteStore.schemaVersion).map(Int64.init))
        // Applied now, by the clock, in milliseconds.
        #expect(versions.allSatisfy { $0.1 > 1_700_000_000_000 })
        let applicationID = try withRawDatabase(path) { try $0.queryFirst("PRAGMA application_id") { $0.int64(at: 0) } }
        #expect(applicationID == Int64(Schema.applicationID))
    }

    @Test func aDatabaseFromANewerProgramIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/hub.db"
        try await SQLiteStore.open(path: path).close()
        let future = SQLiteStore.schemaVersion + 1
        _ = try withRawDatabase(path) { try $0.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)", [.integer(Int64(future))]) }
        await expectStoreError(.schema, mentioning: [path, "schema version \(future)", "newer"]) {
            _ = try await SQLiteStore.open(path: path)
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefusedNamingIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/hub.db"
        try Data(String(repeating: "these are not the bytes of an SQLite database\n", count: 200).utf8).write(to: URL(fileURLWithPath: path))
        await expectStoreError(.backend, mentioning: [path, "not a database"]) {
            _ = try await SQLiteStore.open(path: path)
        }
    }

    @Test func anotherProgramsDatabaseIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/other.db"
        try withRawDatabase(path) { try $0.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)") }
        await expectStoreError(.schema, mentioning: [path, "not a KubeHero database"]) {
            _ = try await SQLiteStore.open(path: path)
        }
        try withRawDatabase(path) { try $0.exec("PRAGMA application_id = 42") }
        await expectStoreError(.schema, mentioning: [path, "another program"]) {
            _ = try await SQLiteStore.open(path: path)
        }
    }

    @Test func aPathThatCannotBeOpenedIsNamed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/missing/dir/hub.db"
        await expectStoreError(.backend, mentioning: [path, "unable to open"]) {
            _ = try await SQLiteStore.open(path: path)
        }
    }

    @Test func aClosedStoreRefusesCalls() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/hub.db"
        let store = try await SQLiteStore.open(path: path)
        try await store.close()
        try await store.close()  // idempotent
        await expectStoreError(.backend, mentioning: [path, "closed"]) { _ = try await store.listClusters() }
        await expectStoreError(.backend, mentioning: [path, "closed"]) { _ = try await store.ingest([record(sequence: 1)]) }
    }

    @Test func concurrentIngestsAndQueriesAllSucceed() async throws {
        try await withTemporaryStore { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sequence in 1...40 {
                    group.addTask {
                        let outcomes = try await store.ingest([record(sequence: UInt64(sequence), rows: 20)])
                        #expect(outcomes == [.committed])
                    }
                    group.addTask { _ = try await totalCost(store) }
                }
                try await group.waitForAll()
            }
            #expect(try await store.batchCount() == 40)
            #expect(try await totalCost(store) == 40 * 20 * 1_000)
        }
    }

    @Test func ingestRollsBackEverythingOnError() async throws {
        try await withTemporaryStore { store, path in
            var bad = record(sequence: 2)
            bad.rows[0].usage.networkEgressBytes = [1, 2]  // not one value per network class
            await expectStoreError(.backend, mentioning: ["network"]) {
                _ = try await store.ingest([record(sequence: 1, rows: 5), bad])
            }
            #expect(try await store.batchCount() == 0)
            #expect(try await totalCost(store) == 0)
            let containers = try withRawDatabase(path) { try $0.queryFirst("SELECT count(*) FROM containers") { $0.int64(at: 0) } }
            #expect(containers == 0)
            // The writer's memory of container ids was not polluted by the rolled-back inserts.
            #expect(try await store.ingest([record(sequence: 1, rows: 5)]) == [.committed])
            #expect(try await totalCost(store) == 5_000)
        }
    }

    /// 100 batches of 100 rows in one call: one thread-pool job, one transaction, one fsync;
    /// every batch committed.
    @Test func ingestThroughput() async throws {
        try await withTemporaryStore { store, _ in
            let records = (1...100).map { record(sequence: UInt64($0), agent: "agent-\($0 % 10)", rows: 100) }
            // Warm up: containers registered, statements prepared.
            _ = try await store.ingest([record(sequence: 1_000, rows: 100)])
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                let outcomes = try await store.ingest(records)
                #expect(outcomes.allSatisfy { $0 == .committed })
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rowsPerSecond = Double(100 * 100) / seconds
            print("SQLiteStore ingest: 10000 rows in \(Int(seconds * 1000)) ms = \(Int(rowsPerSecond)) rows/s")
            // The rate is printed, not asserted: it is a benchmark's figure (kubehero-bench ingest
            // and store, BENCHMARKS.md), and a loaded CI machine says nothing about the code.
            #expect(try await store.batchCount() == 101)
        }
    }
}
