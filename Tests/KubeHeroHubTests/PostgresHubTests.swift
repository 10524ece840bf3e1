import Foundation
import KubeHeroCLI
import KubeHeroAudit
import KubeHeroCore
import KubeHeroHub
import KubeHeroIngestClient
import KubeHeroPolicy
import KubeHeroStore
import KubeHeroStoreConformance
import KubeHeroStorePostgres
import KubeHeroStoreSQLite
import KubeHeroTestSupport
import Logging
import Testing

/// Hubs on PostgreSQL: the same path as `EndToEndTests`, and several replicas on one database.
@Suite("Hub on PostgreSQL", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct PostgresHubTests {
    static func database(_ url: String) throws -> HubDatabase {
        .postgres(try PostgresStoreConfiguration(url: url), readReplica: try PostgresStoreConfiguration(url: url))
    }

    /// Short enough for a test, long enough for a loaded machine: a renewal every second.
    static let quickLease: LeaderLease.Settings = {
        var s = LeaderLease.Settings()
        s.leaseDuration = .seconds(4)
        s.renewInterval = .seconds(1)
        s.safetyMargin = .milliseconds(500)
        return s
    }()

    @Test("a hub on PostgreSQL ingests a batch and answers `/v1/costs` exactly as on SQLite")
    func ingestAndQuery() async throws {
        try await TestPostgres.withDatabase { url, _ in
            try await withTestHub(database: try Self.database(url)) { hub in
                #expect(hub.hub.services.store is PostgresStore)
                let bundle = try await hub.registerCluster("prod-us-east-1")
                let batch = minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
                let reply = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                    try await stream.sendAndWait(batch)
                }
                #expect(reply == .ack(agentInstanceID: "agent-1", sequence: 1, duplicate: false))
                let costs = try await hub.withClient { try await $0.costs(.init(window: "24h", aggregate: "namespace")) }
                let groups = Dictionary(uniqueKeysWithValues: costs.steps[0].groups.map { ($0.name, $0) })
                #expect(groups["search"]?.totalCostNanoUSD == EndToEndTests.searchNano)
                #expect(groups["__idle__"]?.totalCostNanoUSD == EndToEndTests.idleNano)
                // The registration and the certificate are in the audit log, and it is signed.
                let entries = try await hub.hub.services.store.auditEntries(matching: AuditQuery())
                #expect(entries.map(\.action).contains(.clusterRegister))
                _ = try await hub.hub.services.audit.signCheckpointIfNeeded(nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
                #expect(try await hub.hub.services.store.latestCheckpoint()?.size == UInt64(entries.count))
                // One replica: it leads (and so signs checkpoints).
                try await Self.waitUntil("the only replica leads", within: .seconds(20)) { hub.hub.services.leadership.isLeader }
                // The pool's gauges, for the chart's "pool saturated" alert.
                let metrics = try await hub.withClient { try await $0.raw(method: "GET", path: "/metrics").body }
                #expect(metrics.contains(#"kubehero_db_pool_connections_max{pool="primary"} 20"#), "\(metrics)")
                #expect(metrics.contains(#"kubehero_db_pool_requests_in_flight{pool="primary"} "#))
            }
        }
    }

    /// Two replicas on one database: an agent that resends to the other replica is counted
    /// once; one replica leads; when the leader stops, the other takes over.
    @Test("two hubs on one database: de-duplication across them, one leader, handover when it stops")
    func twoReplicas() async throws {
        try await Self.withTwoReplicas { first, second in
            // Give the second a few renewals: it must not take the lease.
            try await Task.sleep(for: .seconds(2))
            #expect(!second.hub.services.leadership.isLeader)
            #expect(first.hub.services.leadership.isLeader)

            let bundle = try await first.registerCluster("c1")
            let minute = recentMinute()
            let one = minuteBatch(sequence: 1, minuteStartMillis: minute, containers: EndToEndTests.twoContainers())
            let two = minuteBatch(sequence: 2, minuteStartMillis: minute - 60_000, containers: EndToEndTests.twoContainers())
            let toFirst = try await withIngestStream(first.ingestConfig(bundle), hello: ("agent-1", "node-a")) { try await $0.sendAndWait(one) }
            #expect(toFirst == .ack(agentInstanceID: "agent-1", sequence: 1, duplicate: false))
            // The agent reconnects to the other replica and resends what it had not seen acknowledged.
            let toSecond = try await withIngestStream(second.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                [try await stream.sendAndWait(one), try await stream.sendAndWait(two)]
            }
            #expect(toSecond == [
                .ack(agentInstanceID: "agent-1", sequence: 1, duplicate: true),
                .ack(agentInstanceID: "agent-1", sequence: 2, duplicate: false),
            ])
            #expect(try await second.hub.services.store.batchCount() == 2)
            let costs = try await second.withClient { try await $0.costs(.init(window: "24h", aggregate: "namespace")) }
            #expect(costs.steps[0].groups.first { $0.name == "search" }?.totalCostNanoUSD == 2 * EndToEndTests.searchNano)
        }
    }

    /// The leader evaluates; the enforcement it decides must hold on every replica, since an
    /// edge operator's stream (and the hub's own admission endpoint) may be on any of them.
    @Test("the replica that does not lead enforces what the leader decided, and lifts a policy turned off through it at once")
    func enforcementOnEveryReplica() async throws {
        try await Self.withTwoReplicas { first, second in
            _ = try await first.registerCluster("c1", labels: ["env": "prod"])
            try await PolicyAPITests.storeTwoDollars(in: first, cluster: "c1")
            func policy(hardStop: Bool) throws -> BudgetPolicy {
                try PolicyAPITests.batchCap(clusterSelector: "{ matchLabels: { env: prod } }", hardStop: hardStop)
            }
            func admitted(_ hub: TestHub) async throws -> Bool {
                let review = PolicyAPITests.podReview(namespace: "batch")
                let answer = try await hub.withClient { try await $0.raw(method: "POST", path: "/admission/c1/validate/pods", body: review) }
                return !answer.body.contains(#""allowed":false"#)
            }
            _ = try await first.withClient { try await $0.applyPolicy(try policy(hardStop: true)) }
            try await first.hub.services.policies?.evaluate()
            #expect(first.hub.services.policies?.enforcement.current(cluster: "c1").rules.map(\.policy) == ["batch-cap"])
            #expect(!second.hub.services.leadership.isLeader)
            try await Self.waitUntil("the follower enforces the leader's decision", within: .seconds(20)) { try await !admitted(second) }
            #expect(second.hub.services.policies?.enforcement.current(cluster: "c1").rules.map(\.policy) == ["batch-cap"])

            // Turned off through the follower: it stops enforcing without waiting for the
            // leader's next pass.
            _ = try await second.withClient { try await $0.applyPolicy(try policy(hardStop: false)) }
            try await Self.waitUntil("the follower lifts the policy turned off", within: .seconds(20)) { try await admitted(second) }
            try await first.hub.services.policies?.evaluate()
            #expect(try await admitted(first))
        }
    }

    /// Two replicas, "first" leading and "second" not, on one throwaway database.
    static func withTwoReplicas(_ body: @Sendable (TestHub, TestHub) async throws -> Void) async throws {
        try await TestPostgres.withDatabase { url, _ in
            let database = try Self.database(url)
            let dataDir = try await TestHub.makeDataDir(database: database)
            defer { try? FileManager.default.removeItem(atPath: dataDir.0) }
            try await withTestHub(dataDir: dataDir, keepDataDir: true, database: database, leaderLease: Self.quickLease, replicaName: "first") { first in
                try await Self.waitUntil("the first hub leads", within: .seconds(20)) { first.hub.services.leadership.isLeader }
                try await withTestHub(dataDir: dataDir, keepDataDir: true, database: database, leaderLease: Self.quickLease, replicaName: "second") { second in
                    try await body(first, second)
                }
            }
        }
    }

    static func options(_ dataDir: String, _ database: HubDatabase, replica: String, lease: LeaderLease.Settings = quickLease) -> HubOptions {
        var options = HubOptions(dataDir: dataDir)
        options.apiHost = "127.0.0.1"
        options.apiPort = 0
        options.ingestHost = "127.0.0.1"
        options.ingestPort = 0
        options.pricingSource = TestHub.repositoryRoot + "/pricing"
        options.database = database
        options.leaderLease = lease
        options.replicaName = replica
        return options
    }

    @Test("when the leader shuts down, the other replica leads at once; checkpoints go on from it")
    func handoverOnShutdown() async throws {
        try await TestPostgres.withDatabase { url, _ in
            let database = try Self.database(url)
            let (dataDir, _) = try await TestHub.makeDataDir(database: database)
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                let a = try await Hub.open(options: Self.options(dataDir, database, replica: "a"), logger: quietLogger)
                group.addTask { try await a.run() }
                try await Self.waitUntil("hub a leads", within: .seconds(20)) { a.services.leadership.isLeader }
                let b = try await Hub.open(options: Self.options(dataDir, database, replica: "b"), logger: quietLogger)
                group.addTask { try await b.run() }
                _ = await b.addresses()
                try await Task.sleep(for: .seconds(2))
                #expect(!b.services.leadership.isLeader, "a holds the lease: b must not lead")

                await a.shutdown()
                let clock = ContinuousClock()
                let stopped = clock.now
                try await Self.waitUntil("hub b leads after a shut down", within: .seconds(20)) { b.services.leadership.isLeader }
                // a released the lease: b takes it at its next renewal, not when it would have expired.
                #expect(clock.now - stopped < .seconds(4))

                // The new leader signs checkpoints of what is appended now.
                _ = try await b.services.store.appendAudit([AuditDraft(timeMillis: 1, actor: .hub, action: .hubConfig, subject: "after-handover")])
                let size = try await b.services.store.auditSize()
                try await Self.waitUntil("b signs a checkpoint of the grown log", within: .seconds(10)) {
                    try await b.services.store.latestCheckpoint()?.size == size
                }
                await b.shutdown()
                try await group.waitForAll()
            }
        }
    }

    /// The issue's failure case: the leader's process is killed (no release), and the survivor
    /// takes over once the lease has run out: within 20 s with the default 15 s lease.
    @Test("when the leader is killed with -9, the other replica leads within 20 s")
    func handoverAfterKill() async throws {
        try await TestPostgres.withDatabase { url, _ in
            let database = try Self.database(url)
            let (dataDir, _) = try await TestHub.makeDataDir(database: database)
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let store = try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)
            let log = dataDir + "/killed-hub.log"
            let child = try startProduct("kubehero-hub", [
                "serve", "--data-dir", dataDir, "--database", url, "--replica-name", "killed",
                "--api-listen", "127.0.0.1:0", "--ingest-listen", "127.0.0.1:0", "--pricing-source", TestHub.repositoryRoot + "/pricing",
            ], logFile: log)
            do {
                try await Self.waitUntil("the child hub leads", within: .seconds(60)) {
                    try await store.leaseHolder(name: "kubehero-hub-leader")?.hasPrefix("killed-") == true
                }
                // The survivor uses the same (default) lease settings as the child.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let survivor = try await Hub.open(options: Self.options(dataDir, database, replica: "survivor", lease: LeaderLease.Settings()), logger: quietLogger)
                    group.addTask { try await survivor.run() }
                    _ = await survivor.addresses()
                    try await Task.sleep(for: .seconds(6))  // more than one renewal interval
                    #expect(!survivor.services.leadership.isLeader, "the child holds the lease")

                    kill(child.processIdentifier, SIGKILL)
                    child.waitUntilExit()
                    let clock = ContinuousClock()
                    let killed = clock.now
                    try await Self.waitUntil("the survivor leads after the leader was killed", within: .seconds(20)) {
                        survivor.services.leadership.isLeader
                    }
                    let took = clock.now - killed
                    #expect(took < .seconds(20))
                    #expect(try await store.leaseHolder(name: "kubehero-hub-leader")?.hasPrefix("survivor-") == true)
                    print("leader killed with -9: the survivor led after \(took)")
                    await survivor.shutdown()
                    try await group.waitForAll()
                }
            } catch {
                if child.isRunning { kill(child.processIdentifier, SIGKILL) }
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                try? await store.close()
                Issue.record(Comment(rawValue: "child hub log:\n" + output.suffix(4000)))
                throw error
            }
            try await store.close()
        }
    }

    static func waitUntil(_ what: String, within limit: Duration, _ condition: () async throws -> Bool) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(what): not within \(limit)")
        throw TestPostgresError(description: "\(what): not within \(limit)")
    }
}

/// `kubehero-hub migrate`: a hub's state moves from SQLite to PostgreSQL whole.
@Suite("Migrate SQLite to PostgreSQL", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct MigrateTests {
    @Test("everything a SQLite hub knows is served the same from PostgreSQL, and its audit log verifies")
    func migrateSQLiteHubToPostgres() async throws {
        let dataDir = try await TestHub.makeDataDir()
        defer { try? FileManager.default.removeItem(atPath: dataDir.0) }
        let minute = recentMinute()
        // A SQLite hub with two clusters (one removed), two batches (and so costs, node-minutes,
        // batch keys), a price version and a signed audit log.
        let (bundle, before) = try await withTestHub(dataDir: dataDir, keepDataDir: true) { hub in
            let bundle = try await hub.registerCluster("prod", labels: ["env": "prod"])
            _ = try await hub.registerCluster("gone")
            _ = try await hub.withClient { try await $0.removeCluster("gone") }
            try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                for seq in 1...2 {
                    _ = try await stream.sendAndWait(minuteBatch(sequence: UInt64(seq), minuteStartMillis: minute - Int64(2 - seq) * 60_000, containers: EndToEndTests.twoContainers()))
                }
            }
            let costs = try await hub.withClient { try await $0.costs(.init(window: "24h", aggregate: "namespace")) }
            return (bundle, costs)
        }

        try await TestPostgres.withDatabase { url, _ in
            let migrated = try await runProductDetached("kubehero-hub", ["migrate", "--from", "sqlite:\(dataDir.0)/hub.sqlite", "--to", url])
            #expect(migrated.status == 0, "migrate failed: \(migrated.stderr)")
            #expect(migrated.stdout.contains("copied usage_minute: "), "\(migrated.stdout)")
            #expect(migrated.stdout.contains("audit log verified"), "\(migrated.stdout)")

            let database = try PostgresHubTests.database(url)
            try await withTestHub(dataDir: dataDir, keepDataDir: true, database: database) { hub in
                let after = try await hub.withClient { try await $0.costs(.init(window: "24h", aggregate: "namespace")) }
                #expect(after.steps.map(\.groups) == before.steps.map(\.groups))
                // The admin token of the SQLite hub still works: the copied hash matches it.
                let clusters = try await hub.withClient { try await $0.listClusters() }
                #expect(clusters.map(\.name) == ["prod"])
                // The batch keys came along: a re-sent batch is a duplicate; a new one is stored,
                // into a cluster whose id counter moved past the copied ones.
                let replies = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                    [
                        try await stream.sendAndWait(minuteBatch(sequence: 2, minuteStartMillis: minute, containers: EndToEndTests.twoContainers())),
                        try await stream.sendAndWait(minuteBatch(sequence: 3, minuteStartMillis: minute - 120_000, containers: EndToEndTests.twoContainers())),
                    ]
                }
                #expect(replies == [
                    .ack(agentInstanceID: "agent-1", sequence: 2, duplicate: true), .ack(agentInstanceID: "agent-1", sequence: 3, duplicate: false),
                ])
                _ = try await hub.registerCluster("new-after-migration")
                // The whole log, old entries and new, verifies with the hub's keys.
                _ = try await hub.hub.services.audit.signCheckpointIfNeeded(nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
                let verification = try await StoreMigration.verifyAuditLog(of: hub.hub.services.store, keys: hub.hub.services.audit.verifierKeys)
                #expect(verification.entries == (try await hub.hub.services.store.auditSize()))
                #expect(verification.verifiedSize == verification.entries)
            }
            // A second migration into the now non-empty database is refused.
            let again = try await runProductDetached("kubehero-hub", ["migrate", "--from", "sqlite:\(dataDir.0)/hub.sqlite", "--to", url])
            #expect(again.status != 0)
            #expect(again.stderr.contains("already holds data"), "\(again.stderr)")
        }
    }

    @Test("the namespace rollup is copied: PostgreSQL answers by namespace and cluster as SQLite did, from the rollup and the hour rows alike")
    func migrateCopiesTheNamespaceRollup() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-migrate-rollup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sqlite = try await SQLiteStore.open(path: dir + "/hub.sqlite", logger: quietLogger)
        try await RollupWorld.closing(sqlite) { source in
            // Ingested, re-priced and cut by hour retention before the copy.
            try await RollupWorld.ingest(into: source, seed: 31)
            let hour: Int64 = 3_600_000
            let t0 = try #require(RollupWorld.queries.first?.range.startUnixMillis)
            _ = try await source.reprice(
                range: TimeRange(startUnixMillis: t0 + hour / 2, endUnixMillis: t0 + 4 * hour), cluster: nil, priceVersion: 2,
                using: { RollupWorld.reprice($0, $1) }, audit: { _ in [] }
            )
            _ = try await source.deleteRows(resolution: .hour, beforeMillis: t0 + hour)
            let expected = try await RollupWorld.answers(source)
            try await TestPostgres.withStore { target, _, _ in
                let report = try await StoreMigration.copy(from: sqlite, to: target, verifierKeys: [], logger: quietLogger)
                #expect(report.tables.contains { $0.name == NamespaceRollup.table && $0.rows > 0 }, "\(report.tables)")
                try await RollupWorld.expectRollupAgrees(target, answering: expected, "after kubehero-hub migrate")
            }
        }
    }
}
