import Foundation
import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import KubeHeroStorePostgres
import KubeHeroTestSupport
import Logging
import Testing

private let t0: Int64 = 1_699_999_200_000
private let day: Int64 = 86_400_000

private func record(sequence: UInt64, agent: String = "agent-1", rows: Int = 1, at start: Int64 = t0, costPerRow: Int64 = 1_000) -> IngestRecord {
    let rows = (0..<rows).map { i in
        UsageRow(
            key: ContainerKey(cluster: "prod", node: "n1", namespace: "ns-\(i % 10)", pod: "pod-\(i)", container: "app"),
            labels: ["team": "t\(i % 3)"], startMillis: start + Int64(sequence % 60) * 60_000,
            usage: Usage(cpuCoreNanos: 1_000_000, sampledMillis: 60_000), cost: Cost(cpu: Money(nanoUSD: costPerRow))
        )
    }
    return IngestRecord(
        cluster: "prod", agentInstanceID: agent, sequence: sequence, node: "n1", receivedAtMillis: start + Int64(sequence) * 60_000,
        windowStartMillis: start, windowEndMillis: start + 60_000, sampleCount: rows.count * 60, rows: rows
    )
}

private func totalCost(_ store: any HubStore, from start: Int64 = t0, hours: Int64 = 1) async throws -> Int64 {
    let groups = try await store.costs(CostQuery(
        range: TimeRange(startUnixMillis: start, endUnixMillis: start + hours * 3_600_000), aggregation: .cluster, resolution: .minute
    ))
    return groups.reduce(0) { $0 + $1.cost.total.nanoUSD }
}

/// The `StoreError` `body` throws (nil if it throws none or another error: `check` says so).
private func storeError(_ body: () async throws -> Void) async -> StoreError? {
    do {
        try await body()
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(error)")
    }
    return nil
}

/// `error` has `code` and its message names each of `mentions`.
private func check(_ error: StoreError?, _ code: StoreError.Code, _ mentions: [String]) {
    guard let error else {
        Issue.record("expected StoreError .\(code), but there was none")
        return
    }
    #expect(error.code == code, "\(error.message)")
    for mention in mentions where !error.message.contains(mention) {
        Issue.record("the message should mention \(mention): \(error.message)")
    }
}

private func open(_ url: String) async throws -> PostgresStore {
    try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)
}

@Suite("PostgresStore", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct PostgresStoreTests {
    @Test func twoReplicasStartingAtOnceMigrateOnce() async throws {
        try await TestPostgres.withDatabase { url, name in
            // Without the advisory lock, the second CREATE TABLE of the same name fails.
            let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
                for _ in 0..<4 { group.addTask { try await open(url) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(stores.count == 4)
            for store in stores { try await store.close() }
            let again = try await open(url)
            try await again.close()
            try await TestPostgres.run(
                "DO $$ BEGIN IF (SELECT count(*) FROM schema_migrations) <> \(PostgresStore.schemaVersion) THEN RAISE EXCEPTION 'migrations recorded more than once'; END IF; END $$",
                in: name
            )
        }
    }

    @Test func aDatabaseFromANewerProgramIsRefused() async throws {
        try await TestPostgres.withDatabase { url, name in
            try await open(url).close()
            let future = PostgresStore.schemaVersion + 1
            try await TestPostgres.run("INSERT INTO schema_migrations (version, applied_at) VALUES (\(future), 0)", in: name)
            check(await storeError { _ = try await open(url) }, .schema, [name, "schema version \(future)", "newer"])
        }
    }

    @Test func anotherProgramsDatabaseIsRefused() async throws {
        try await TestPostgres.withDatabase { url, name in
            try await TestPostgres.run("CREATE TABLE invoices (id int PRIMARY KEY)", in: name)
            check(await storeError { _ = try await open(url) }, .schema, [name, "not a KubeHero database"])
        }
    }

    @Test func anUnreachableServerIsNamed() async throws {
        // Port 1 on loopback: nothing listens there.
        check(await storeError {
            _ = try await open("postgres://kubehero@127.0.0.1:1/kubehero?sslmode=disable&connect_timeout=2")
        }, .backend, ["127.0.0.1:1", "opening the database"])
    }

    @Test func aMissingDatabaseIsNamed() async throws {
        var c = try PostgresStoreConfiguration(url: TestPostgres.url)
        c.database = "kubehero_no_such_database"
        c.tlsMode = .disable
        do {
            _ = try await PostgresStore.open(c, logger: quietLogger)
            Issue.record("opening a database that does not exist succeeded")
        } catch let error as StoreError {
            #expect(error.code == .backend)
            #expect(error.message.contains("kubehero_no_such_database"), "\(error.message)")
            #expect(error.message.contains("3D000"), "the server's SQLSTATE should be in \(error.message)")
        }
    }

    @Test func aClosedStoreRefusesCalls() async throws {
        try await TestPostgres.withDatabase { url, name in
            let store = try await open(url)
            try await store.close()
            try await store.close()  // idempotent
            check(await storeError { _ = try await store.listClusters() }, .backend, [name, "closed"])
            check(await storeError { _ = try await store.ingest([record(sequence: 1)]) }, .backend, [name, "closed"])
        }
    }

    /// Two replicas on one database: a batch re-sent to the other one is a duplicate there.
    @Test func deduplicationHoldsAcrossReplicas() async throws {
        try await TestPostgres.withStore { first, url, _ in
            let second = try await open(url)
            do {
                #expect(try await first.ingest([record(sequence: 1, rows: 5)]) == [.committed])
                #expect(try await second.ingest([record(sequence: 1, rows: 5)]) == [.duplicate])
                // Both at once, the same new batch: exactly one commits it.
                async let a = first.ingest([record(sequence: 2, rows: 5)])
                async let b = second.ingest([record(sequence: 2, rows: 5)])
                let outcomes = try await a + b
                #expect(outcomes.sorted { "\($0)" < "\($1)" } == [.committed, .duplicate])
                #expect(try await first.batchCount() == 2)
                #expect(try await totalCost(second) == 10_000)
            } catch {
                try? await second.close()
                throw error
            }
            try await second.close()
        }
    }

    @Test func concurrentIngestsFromReplicasAllCommit() async throws {
        try await TestPostgres.withStore { first, url, _ in
            let second = try await open(url)
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sequence in 1...40 {
                        let store = sequence % 2 == 0 ? first : second
                        group.addTask {
                            let outcomes = try await store.ingest([record(sequence: UInt64(sequence), rows: 20)])
                            #expect(outcomes == [.committed])
                        }
                        group.addTask { _ = try await totalCost(store) }
                    }
                    try await group.waitForAll()
                }
                #expect(try await first.batchCount() == 40)
                #expect(try await totalCost(first) == 40 * 20 * 1_000)
            } catch {
                try? await second.close()
                throw error
            }
            try await second.close()
        }
    }

    @Test func auditEntriesCannotBeChangedThroughTheDatabase() async throws {
        try await TestPostgres.withStore { store, _, name in
            _ = try await store.appendAudit([AuditDraft(timeMillis: t0, actor: .hub, action: .hubInit, subject: "hub")])
            for sql in ["UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries", "TRUNCATE audit_entries"] {
                await #expect(throws: (any Error).self, "\(sql) should be refused") { try await TestPostgres.run(sql, in: name) }
            }
            #expect(try await store.auditEntries(matching: AuditQuery()).map(\.action) == [.hubInit])
        }
    }

    /// Fail closed: when the audit log cannot be written, the action it records does not happen.
    @Test func actionsAreRefusedWhileTheAuditLogIsUnwritable() async throws {
        try await TestPostgres.withStore { store, _, name in
            let draft = [AuditDraft(timeMillis: t0, actor: .token("t1"), action: .clusterRegister, subject: "x")]
            let cluster = ClusterRecord(name: "prod", cloud: .aws, region: "us-east-1", labels: [:], createdAtMillis: t0)
            let cert = CertificateRecord(serialHex: "01", clusterName: "prod", notBeforeMillis: t0, notAfterMillis: t0 + 1, pem: "pem")
            try await TestPostgres.run(
                "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store unwritable'; END $$", in: name
            )
            try await TestPostgres.run("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION audit_down()", in: name)
            check(await storeError {
                try await store.createCluster(cluster, certificate: cert, audit: draft)
            }, .backend, ["audit store unwritable"])
            #expect(try await store.cluster(named: "prod") == nil)
            #expect(try await store.certificate(serialHex: "01") == nil)
            var gap = record(sequence: 1, rows: 3)
            gap.droppedTicks = 4
            gap.audit = AuditDraft(timeMillis: t0, actor: .cluster("prod"), action: .agentGap, subject: "x")
            check(await storeError { _ = try await store.ingest(gap) }, .backend, ["audit store unwritable"])
            #expect(try await store.batchCount() == 0)
            #expect(try await store.gaps(cluster: "prod", limit: 10).isEmpty)

            try await TestPostgres.run("DROP TRIGGER audit_down ON audit_entries", in: name)
            try await store.createCluster(cluster, certificate: cert, audit: draft)
            #expect(try await store.ingest(gap) == .committed)
            #expect(try await store.auditSize() == 2)
        }
    }

    @Test func partitionsAreMadeAheadAndOnDemandAndDroppedByRetention() async throws {
        try await TestPostgres.withStore { store, _, name in
            // Rows on three days long ago: their partitions are made when they arrive.
            for (n, dayIndex) in [0, 1, 2].enumerated() {
                #expect(try await store.ingest([record(sequence: UInt64(n + 1), rows: 4, at: t0 + Int64(dayIndex) * day)]) == [.committed])
            }
            let partitions = try await Self.partitions(name)
            for d in ["20231114", "20231115", "20231116"] {
                #expect(partitions.contains("usage_minute_p\(d)"), "partitions: \(partitions)")
            }
            // Today's and the next days' partitions exist before any row needs them.
            #expect(partitions.filter { $0.hasPrefix("usage_minute_p") }.count >= 3 + 4, "partitions: \(partitions)")

            // Retention before the third day: two minute partitions dropped whole, their rows counted.
            let deleted = try await store.deleteRows(resolution: .minute, beforeMillis: alignedDay(t0) + 2 * day)
            #expect(deleted == 8)
            let after = try await Self.partitions(name)
            #expect(!after.contains("usage_minute_p20231114") && !after.contains("usage_minute_p20231115"), "partitions: \(after)")
            #expect(after.contains("usage_minute_p20231116"))
            #expect(try await totalCost(store, from: t0, hours: 72) == 4_000)
            // The hour rows are kept by their own retention.
            let hourGroups = try await store.costs(CostQuery(
                range: TimeRange(startUnixMillis: t0, endUnixMillis: t0 + 3 * day), aggregation: .cluster, resolution: .hour
            ))
            #expect(hourGroups.map(\.cost.total.nanoUSD) == [12_000])
            // Ingest into a dropped partition's time (a late batch) makes it again.
            #expect(try await store.ingest([record(sequence: 9, rows: 1, at: t0)]) == [.committed])
            #expect(try await totalCost(store, from: t0, hours: 24) == 1_000)
        }
    }

    @Test func aPartitionDroppedByAnotherReplicaIsMadeAgain() async throws {
        try await TestPostgres.withStore { first, url, _ in
            let second = try await open(url)
            do {
                #expect(try await first.ingest([record(sequence: 1, rows: 2)]) == [.committed])
                #expect(try await second.ingest([record(sequence: 2, rows: 2)]) == [.committed])
                _ = try await first.deleteRows(resolution: .minute, beforeMillis: alignedDay(t0) + day)
                // `second` still believes the partition exists.
                #expect(try await second.ingest([record(sequence: 3, rows: 2)]) == [.committed])
                #expect(try await totalCost(first) == 2_000)
            } catch {
                try? await second.close()
                throw error
            }
            try await second.close()
        }
    }

    @Test func leasesAreHeldByOneHolderUntilTheyExpireOrAreReleased() async throws {
        try await TestPostgres.withStore { store, _, _ in
            #expect(try await store.acquireLease(name: "leader", holder: "a", durationMillis: 2_000))
            #expect(try await !store.acquireLease(name: "leader", holder: "b", durationMillis: 2_000))
            #expect(try await store.acquireLease(name: "leader", holder: "a", durationMillis: 2_000))  // renewal
            #expect(try await store.leaseHolder(name: "leader") == "a")
            try await Task.sleep(for: .milliseconds(2_300))
            #expect(try await store.leaseHolder(name: "leader") == nil)
            #expect(try await store.acquireLease(name: "leader", holder: "b", durationMillis: 60_000))
            #expect(try await !store.acquireLease(name: "leader", holder: "a", durationMillis: 2_000))
            try await store.releaseLease(name: "leader", holder: "a")  // not a's: nothing happens
            #expect(try await store.leaseHolder(name: "leader") == "b")
            try await store.releaseLease(name: "leader", holder: "b")
            #expect(try await store.acquireLease(name: "leader", holder: "a", durationMillis: 2_000))
        }
    }

    static func partitions(_ database: String) async throws -> [String] {
        // Read through a store-independent connection: the catalog, as an operator sees it.
        try await TestPostgres.query("SELECT relname FROM pg_class WHERE relispartition ORDER BY relname", in: database)
    }
}

private func alignedDay(_ t: Int64) -> Int64 { t / day * day }

@Suite("PostgresStoreConfiguration")
struct PostgresStoreConfigurationTests {
    @Test func aFullURLIsParsed() throws {
        let c = try PostgresStoreConfiguration(url: "postgresql://hub%40corp:s%3Acret@db.example:6543/kube_hero?sslmode=verify-full&sslrootcert=/etc/ca.pem&pool_max=7&connect_timeout=3")
        #expect(c.host == "db.example")
        #expect(c.port == 6543)
        #expect(c.username == "hub@corp")
        #expect(c.password == "s:cret")
        #expect(c.database == "kube_hero")
        #expect(c.tlsMode == .verifyFull)
        #expect(c.caFile == "/etc/ca.pem")
        #expect(c.maximumConnections == 7)
        #expect(c.connectTimeoutSeconds == 3)
        #expect(!c.redactedURL.contains("s:cret") && !c.redactedURL.contains("s%3Acret"))
    }

    @Test(arguments: [
        ("mysql://u@h/db", "scheme"),
        ("postgres://h/db", "no user name"),
        ("postgres://u@h", "no database name"),
        ("postgres://u@h/db?sslmode=always", "sslmode \"always\""),
        ("postgres://u@h/db?sslmod=require", "unknown parameter \"sslmod\""),
        ("postgres://u@h/db?pool_max=0", "pool_max"),
        ("postgres://u:hunter2@h/db?x=1", "***"),
    ])
    func aBadURLIsRefusedNamingWhatIsWrong(url: String, mention: String) throws {
        do {
            _ = try PostgresStoreConfiguration(url: url)
            Issue.record("\(url) was accepted")
        } catch {
            #expect("\(error)".contains(mention), "\(error)")
            #expect(!"\(error)".contains("hunter2"), "the password must not be in \(error)")
        }
    }
}

/// A server of its own (another port and directory), so that restarting it does not disturb
/// the other tests running at the same time.
@Suite("PostgresStore across a server restart", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct PostgresRestartTests {
    /// Runs `scripts/postgres.sh ACTION` for this server. `system` rather than `Process`: it
    /// reaps its child itself (Foundation's `Process` did not see the script exit here, the
    /// server it starts living on). It blocks the calling thread for the few seconds it takes.
    static func script(_ action: String, port: Int, dir: String) throws {
        let command = "KUBEHERO_PG_PORT=\(port) KUBEHERO_PG_DIR='\(dir)' bash '\(TestHub.repositoryRoot)/scripts/postgres.sh' \(action) >/dev/null"
        let status = system(command)
        guard status == 0 else { throw TestPostgresError(description: "scripts/postgres.sh \(action) failed with status \(status)") }
    }

    @Test func theStoreReconnectsAfterTheServerRestartsAndLosesNothingCommitted() async throws {
        let port = Int.random(in: 56_000...56_999)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-pg-restart-\(port)").path
        try Self.script("start", port: port, dir: dir)
        defer { try? Self.script("stop", port: port, dir: dir) }
        let store = try await open("postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable")
        do {
            #expect(try await store.ingest([record(sequence: 1, rows: 5)]) == [.committed])
            try Self.script("restart", port: port, dir: dir)
            // The pool's connections died with the server: calls fail until it reconnects, as an
            // agent's re-sends would, and then succeed; the re-sent batch is not counted twice.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(60)
            var outcome: IngestOutcome?
            var failures = 0
            while outcome == nil && clock.now < deadline {
                do {
                    outcome = try await store.ingest([record(sequence: 2, rows: 5)])[0]
                } catch {
                    failures += 1
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            #expect(outcome == .committed, "after \(failures) failed attempts")
            #expect(try await store.ingest([record(sequence: 1, rows: 5)]) == [.duplicate])
            #expect(try await store.batchCount() == 2)
            #expect(try await totalCost(store) == 10_000)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }
}
