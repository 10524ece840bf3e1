import KubeHeroCore
import KubeHeroStore

/// The namespace rollup (`NamespaceRollup`) against the per-container hour rows: every cost
/// query the rollup answers must get the same groups, sums, idle and order either way, after
/// whatever changes the hour rows. A store that skipped the rollup in any write fails these.
enum RollupChecks {
    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("namespace rollup: costs by cluster and namespace equal the per-container rows' (random batches, re-sent ones, idle rows)") { store in
            try await RollupWorld.ingest(into: store, seed: 1)
            try await RollupWorld.expectRollupAgrees(store, "after ingest")
        },
        StoreConformanceCheck("namespace rollup: follows re-pricing (changed costs, added idle rows)") { store in
            try await RollupWorld.ingest(into: store, seed: 2)
            // Minutes 50 of hour 0 to 10 of hour 2 of one cluster: the window straddles hours.
            let window = TimeRange(startUnixMillis: Fixture.t0 + 50 * 60_000, endUnixMillis: Fixture.t0 + 2 * Fixture.hour + 10 * 60_000)
            let summary = try await store.reprice(range: window, cluster: "prod", priceVersion: 2, using: { RollupWorld.reprice($0, $1) }) { _ in [] }
            if summary.rows == 0 || summary.before == summary.after {
                throw fail("namespace rollup after re-pricing: the re-price changed nothing (\(summary)); the check needs it to")
            }
            try await RollupWorld.expectRollupAgrees(store, "after re-pricing")
        },
        StoreConformanceCheck("namespace rollup: hour retention removes the same hours from it; minute retention leaves it") { store in
            try await RollupWorld.ingest(into: store, seed: 3)
            // Not aligned to the hour: hour rows (and the rollup's) that start before it go. The
            // first cut keeps one hour of the fleet's first day (t0 is 22:00 UTC), the second none.
            _ = try await store.deleteRows(resolution: .hour, beforeMillis: Fixture.t0 + 30 * 60_000)
            try await RollupWorld.expectRollupAgrees(store, "after deleting hour rows within a day")
            _ = try await store.deleteRows(resolution: .hour, beforeMillis: Fixture.t0 + Fixture.hour + 30 * 60_000)
            try await RollupWorld.expectRollupAgrees(store, "after deleting hour rows")
            _ = try await store.deleteRows(resolution: .minute, beforeMillis: Fixture.t0 + 3 * Fixture.hour)
            try await RollupWorld.expectRollupAgrees(store, "after deleting minute rows")
            let kept = try await store.costs(Fixture.costs(.cluster, from: Fixture.t0, to: Fixture.t0 + 3 * Fixture.hour, resolution: .hour))
            try expectEqual(kept.isEmpty, false, "costs by cluster of hours 0-2 after hour retention (hour 2 starts after the cut)")
            try expectEqual(
                try await store.costs(Fixture.costs(.cluster, from: Fixture.t0, to: Fixture.t0 + 2 * Fixture.hour, resolution: .hour)), [],
                "costs by cluster of hours 0-1 after hour retention (both start before the cut)"
            )
        },
    ]
}

/// Random fleets for the rollup checks (and the migration test of `kubehero-hub migrate`):
/// three clusters, nodes, namespaces with several pods each, idle rows, rows of one container
/// and minute spread over several batches, and re-sent batches.
public enum RollupWorld {
    static let clusters = ["prod", "dev", "edge"]
    static let namespaces = ["payments", "web", "batch", "kube-system", "Zeta", "ünicode"]
    /// The hours the rows fall in, from `Fixture.t0`.
    public static let hours: Int64 = 5

    /// Stores about 200 random batches (`seed` picks them), with the node-minutes they cover.
    /// Network values are random for the first `networkClasses` classes (in `NetworkClass.allCases`
    /// order), 0 for the others: fewer for a fleet that a database of an older schema holds.
    public static func ingest(into store: any HubStore, seed: UInt64, networkClasses: Int = NetworkClass.allCases.count) async throws {
        var random = SplitMix64(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        func amount(_ limit: UInt64) -> Int64 { random.next() % 5 == 0 ? 0 : Int64(random.next() % limit) }
        var sequences: [String: UInt64] = [:]
        var stored: [IngestRecord] = []
        for _ in 0..<200 {
            let cluster = pick(clusters)
            let node = "\(cluster)-n\(random.next() % 3)"
            let minute = Fixture.t0 + Int64(random.next() % UInt64(hours * 60)) * 60_000
            var rows: [UsageRow] = []
            for _ in 0..<(1 + random.next() % 6) {
                let idle = random.next() % 6 == 0
                let namespace = idle ? IdleIdentity.name : pick(namespaces)
                let pod = idle ? IdleIdentity.name : "pod-\(random.next() % 4)"
                let key = ContainerKey(cluster: cluster, node: node, namespace: namespace, pod: pod, container: idle ? IdleIdentity.name : pick(["app", "sidecar"]))
                // A row a few minutes off the batch's own minute: batches overlap in minutes.
                let start = minute + Int64(random.next() % 3) * 60_000
                rows.append(UsageRow(
                    key: key, labels: idle ? [:] : ["team": "t\(random.next() % 3)"], startMillis: start,
                    usage: Usage(
                        cpuCoreNanos: amount(60_000_000_000), cpuRequestCoreNanos: amount(60_000_000_000), memoryByteSeconds: amount(1 << 40),
                        memoryRequestByteSeconds: amount(1 << 40), networkEgressBytes: NetworkClass.allCases.indices.map { $0 < networkClasses ? amount(1 << 30) : 0 },
                        sampledMillis: 60_000, gpuRequestMillis: amount(120_000), storageRequestByteSeconds: amount(1 << 40)
                    ),
                    cost: Cost(
                        cpu: Money(nanoUSD: amount(2_000_000)), ram: Money(nanoUSD: amount(1_000_000)),
                        networkByClass: NetworkClass.allCases.indices.map { Money(nanoUSD: $0 < networkClasses ? amount(100_000) : 0) },
                        gpu: Money(nanoUSD: amount(5_000_000)), storage: Money(nanoUSD: amount(10_000))
                    )
                ))
            }
            let agent = "agent-\(node)"
            let sequence = (sequences[agent] ?? 0) + 1
            sequences[agent] = sequence
            var record = Fixture.record(cluster: cluster, agent: agent, sequence: sequence, node: node, receivedAt: minute + 3 * 60_000, rows: rows)
            record.nodeMinutes = Set(rows.map(\.startMillis)).sorted().map { start in
                NodeMinuteRecord(cluster: cluster, startMillis: start, node: NodeInfo(name: node, instanceType: "m5.xlarge"), observedMillis: 20_000, priceVersion: 1)
            }
            stored.append(record)
        }
        // Groups of 8, as the hub commits them; then every 7th batch again, which must add nothing.
        for start in stride(from: 0, to: stored.count, by: 8) {
            let outcomes = try await store.ingest(Array(stored[start..<min(start + 8, stored.count)]))
            if outcomes.contains(.duplicate) { throw fail("random fleet: a new batch was taken for a duplicate") }
        }
        let again = stride(from: 0, to: stored.count, by: 7).map { stored[$0] }
        let outcomes = try await store.ingest(again)
        try expectEqual(outcomes, again.map { _ in IngestOutcome.duplicate }, "random fleet: re-sent batches")
    }

    /// A re-price that changes every other row's cost and adds an idle row to every third minute.
    public static func reprice(_ minute: NodeMinuteRecord, _ rows: [UsageRow]) -> [UsageRow] {
        var out = rows.enumerated().map { i, row -> UsageRow in
            var row = row
            if i % 2 == 0 { row.cost.cpu = Money(nanoUSD: row.cost.cpu.nanoUSD * 3 / 2 + 7) }
            return row
        }
        if (minute.startMillis / 60_000) % 3 == 0 {
            let key = ContainerKey(cluster: minute.cluster, node: minute.node.name, namespace: IdleIdentity.name, pod: IdleIdentity.name, container: IdleIdentity.name)
            let old = rows.first { $0.key == key }?.cost ?? .zero
            out.removeAll { $0.key == key }
            out.append(UsageRow(key: key, labels: [:], startMillis: minute.startMillis, usage: .zero, cost: Cost(
                cpu: old.cpu + Money(nanoUSD: 1_234), ram: old.ram + Money(nanoUSD: 567), networkByClass: old.networkByClass,
                gpu: old.gpu, storage: old.storage
            )))
        }
        return out
    }

    /// Every cost query the rollup answers over the fleet's hours, with its filters and ranges.
    public static var queries: [CostQuery] {
        let t0 = Fixture.t0, hour = Fixture.hour
        // t0 is 22:00 UTC: the fleet's hours are the last two of one day and the first three of
        // the next, so that ranges take whole days from the day rollup and hours around them.
        let ranges = [
            (t0, t0 + hours * hour), (t0 + hour, t0 + 3 * hour),
            // Not aligned: hour rows are taken by their start, either way.
            (t0 + 17 * 60_000, t0 + 3 * hour + 5 * 60_000), (t0 - 24 * hour, t0 + 24 * hour), (t0 + 2 * hour, t0 + 2 * hour),
            // Both days whole; the second day whole and aligned; the second day and the first's last hour.
            (t0 - 24 * hour, t0 + 48 * hour), (t0 + 2 * hour, t0 + 26 * hour), (t0 + hour - 1, t0 + 26 * hour + 1),
            // The first day's last hour whole in a range ending inside it.
            (t0 - 22 * hour, t0 + 90 * 60_000),
        ]
        let filters = [
            RowFilter(), RowFilter(cluster: "prod"), RowFilter(namespace: "payments"), RowFilter(namespace: IdleIdentity.name),
            RowFilter(cluster: "dev", namespace: "web"), RowFilter(cluster: "no-such-cluster"),
        ]
        return ranges.flatMap { start, end in
            filters.flatMap { filter in
                [Aggregation.cluster, .namespace].map { aggregation in
                    CostQuery(range: TimeRange(startUnixMillis: start, endUnixMillis: end), aggregation: aggregation, filter: filter, resolution: .hour)
                }
            }
        }
    }

    /// The answers to `queries`, from the rollup.
    public static func answers(_ store: any HubStore) async throws -> [[CostGroup]] {
        var out: [[CostGroup]] = []
        for query in queries { out.append(try await store.costs(query)) }
        return out
    }

    /// Runs `body` with `store`, then closes the store, also when `body` throws.
    public static func closing(_ store: any HubStore, _ body: (any HubStore) async throws -> Void) async throws {
        do {
            try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    /// `expectRollupAgrees`, and `store` answers `queries` with `expected` (another store's or
    /// an earlier state's answers).
    public static func expectRollupAgrees(_ store: any HubStore, answering expected: [[CostGroup]], _ what: String) async throws {
        try await expectRollupAgrees(store, what)
        let answers = try await answers(store)
        for (query, (got, wanted)) in zip(queries, zip(answers, expected)) where got != wanted {
            throw fail("namespace rollup \(what): \(query.aggregation) over \(query.range) with \(query.filter): expected \(wanted), got \(got)")
        }
    }

    /// Throws unless every query of `queries` gets the same answer from the rollup as from the
    /// per-container rows, and the fleet's answer has idle and several groups (so that the
    /// comparison compares something).
    public static func expectRollupAgrees(_ store: any HubStore, _ what: String) async throws {
        var sawIdle = false
        for query in queries {
            if !NamespaceRollup.answers(query) { throw fail("namespace rollup \(what): \(query) should be answered by the rollup") }
            var reference = query
            reference.usesRollup = false
            let fromRollup = try await store.costs(query)
            let fromContainers = try await store.costs(reference)
            if fromRollup != fromContainers {
                let first = zip(fromRollup, fromContainers).first { $0 != $1 }.map { "rollup \($0.0) vs rows \($0.1)" }
                    ?? "groups \(fromRollup.map(\.name)) vs \(fromContainers.map(\.name))"
                throw fail("namespace rollup \(what): \(query.aggregation) over \(query.range) with \(query.filter) differs: \(first)")
            }
            sawIdle = sawIdle || fromRollup.contains { $0.idle != .zero }
        }
        let all = try await store.costs(queries[1])
        if !sawIdle || all.count < 5 {
            throw fail("namespace rollup \(what): the fleet should have idle and at least 5 namespaces, got \(all.map(\.name))")
        }
    }
}

/// A row with traffic in every network class, cross-region included, for the stores' migration
/// tests: stored, it must read back exactly per container and from the namespace rollup.
public enum CrossRegionRows {
    /// Ingests one batch for namespace `xr` a day after the fleet's hours and checks its
    /// per-class bytes and costs in cost queries by container and by namespace (the rollup).
    public static func expectStoredExactly(in store: any HubStore) async throws {
        let start = Fixture.t0 + 24 * Fixture.hour
        let bytes: [Int64] = NetworkClass.allCases.indices.map { Int64($0 + 1) << 20 }
        let costs: [Int64] = NetworkClass.allCases.indices.map { Int64($0 + 1) * 1_000 }
        let key = ContainerKey(cluster: "prod", node: "prod-n0", namespace: "xr", pod: "p", container: "c")
        let row = UsageRow(
            key: key, labels: [:], startMillis: start,
            usage: Usage(networkEgressBytes: bytes, sampledMillis: 60_000),
            cost: Cost(networkByClass: costs.map(Money.init(nanoUSD:)))
        )
        let outcomes = try await store.ingest([
            Fixture.record(cluster: "prod", agent: "agent-cross-region", sequence: 1, node: "prod-n0", receivedAt: start + 60_000, rows: [row])
        ])
        try expectEqual(outcomes, [.committed], "the cross-region batch")
        let range = TimeRange(startUnixMillis: start - Fixture.hour, endUnixMillis: start + Fixture.hour)
        for (aggregation, usesRollup) in [(Aggregation.container, false), (.namespace, true), (.namespace, false)] {
            var query = CostQuery(range: range, aggregation: aggregation, filter: RowFilter(namespace: "xr"), resolution: .hour)
            query.usesRollup = usesRollup
            if usesRollup != NamespaceRollup.answers(query) { throw fail("cross-region: \(aggregation) should\(usesRollup ? "" : " not") read the rollup") }
            let groups = try await store.costs(query)
            try expectEqual(groups.map(\.usage.networkEgressBytes), [bytes], "cross-region: bytes per class by \(aggregation) (rollup \(usesRollup))")
            try expectEqual(groups.map { $0.cost.networkByClass.map(\.nanoUSD) }, [costs], "cross-region: cost per class by \(aggregation) (rollup \(usesRollup))")
        }
    }
}
