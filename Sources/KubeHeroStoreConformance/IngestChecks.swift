import KubeHeroCore
import KubeHeroStore

enum IngestChecks {
    static let key = ContainerKey(cluster: "prod", node: "n1", namespace: "payments", pod: "api-1", container: "app")

    static func batch(_ sequence: UInt64, agent: String = "agent-1", cluster: String = "prod", cpu: Int64, at start: Int64 = Fixture.t0) -> IngestRecord {
        let row = Fixture.row(ContainerKey(cluster: cluster, node: "n1", namespace: "payments", pod: "api-1", container: "app"), at: start, cpu: cpu, ram: 0)
        return Fixture.record(cluster: cluster, agent: agent, sequence: sequence, node: "n1", receivedAt: Fixture.t0 + Int64(sequence) * 60_000, rows: [row])
    }

    /// Total cost per cluster over the first hour, at `resolution`.
    static func totals(_ store: any HubStore, _ resolution: Resolution = .minute) async throws -> [String: Int64] {
        let groups = try await store.costs(Fixture.costs(.cluster, resolution: resolution))
        return Dictionary(uniqueKeysWithValues: groups.map { ($0.name, $0.cost.total.nanoUSD) })
    }

    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("ingest: a new batch is committed, and sent again is a duplicate that changes nothing") { store in
            try expectEqual(try await store.batchCount(), 0, "batchCount() of an empty store")
            let first = batch(1, cpu: 700_000_000)
            try expectEqual(try await store.ingest(first), .committed, "ingest of a new batch")
            var resent = first
            resent.receivedAtMillis += 60_000  // a retry arrives later; it must not move lastBatchTimes
            try expectEqual(try await store.ingest(resent), .duplicate, "ingest of the same (cluster, agent, sequence) again")
            try expectEqual(try await store.batchCount(), 1, "batchCount() after a duplicate")
            try expectEqual(try await totals(store), ["prod": 700_000_000], "costs by cluster after a duplicate (minute rows)")
            try expectEqual(try await totals(store, .hour), ["prod": 700_000_000], "costs by cluster after a duplicate (hour rows)")
            try expectEqual(try await store.lastBatchTimes(), ["prod": first.receivedAtMillis], "lastBatchTimes() after a duplicate")
        },
        StoreConformanceCheck("ingest: a key repeated within one group is stored once") { store in
            let first = batch(1, cpu: 100_000_000)
            var repeated = batch(1, cpu: 900_000_000)  // same key, other content: still a duplicate
            repeated.receivedAtMillis = first.receivedAtMillis
            let outcomes = try await store.ingest([first, batch(2, cpu: 200_000_000), repeated])
            try expectEqual(outcomes, [.committed, .committed, .duplicate], "outcomes of a group whose third batch repeats the first's key")
            try expectEqual(try await store.batchCount(), 2, "batchCount() after the group")
            try expectEqual(try await totals(store), ["prod": 300_000_000], "costs by cluster after the group")
        },
        StoreConformanceCheck("ingest: the key is (cluster, agent instance, sequence)") { store in
            let outcomes = try await store.ingest([
                batch(1, cpu: 1_000_000),
                batch(1, agent: "agent-2", cpu: 2_000_000),
                batch(1, cluster: "dev", cpu: 4_000_000),
                batch(2, cpu: 8_000_000),
            ])
            try expectEqual(outcomes, [.committed, .committed, .committed, .committed], "outcomes of four batches differing in one key part each")
            try expectEqual(try await store.batchCount(), 4, "batchCount()")
            try expectEqual(try await totals(store), ["prod": 11_000_000, "dev": 4_000_000], "costs by cluster")
        },
        StoreConformanceCheck("ingest: rows of two batches for the same container and minute are summed") { store in
            var second = batch(2, cpu: 250_000_000)
            second.rows[0].cost.ram = Money(nanoUSD: 50_000_000)
            try expectEqual(try await store.ingest([batch(1, cpu: 100_000_000)]), [.committed], "ingest of the first batch")
            try expectEqual(try await store.ingest([second]), [.committed], "ingest of the second batch")
            for resolution in Resolution.allCases {
                let groups = try await store.costs(Fixture.costs(.container, resolution: resolution))
                try expectTotals(groups, ["payments/api-1/app": 400_000_000], "costs by container (\(resolution) rows)")
                try expectEqual(groups[0].cost.cpu.nanoUSD, 350_000_000, "summed CPU cost (\(resolution) rows)")
                try expectEqual(groups[0].cost.ram.nanoUSD, 50_000_000, "summed RAM cost (\(resolution) rows)")
                try expectEqual(groups[0].usage.sampledMillis, 120_000, "summed sampled time (\(resolution) rows)")
                try expectEqual(groups[0].usage.cpuCoreNanos, 700_000_000, "summed CPU usage (\(resolution) rows)")
            }
            try expectBuckets(try await store.series(Fixture.series(step: 60_000)), [Fixture.t0: 400_000_000], "series of the shared minute")
        },
        StoreConformanceCheck("ingest: every usage and cost field is stored and read back exactly") { store in
            let usage = Usage(
                cpuCoreNanos: 1, cpuRequestCoreNanos: 2, memoryByteSeconds: 3, memoryRequestByteSeconds: 4,
                networkEgressBytes: [5, 6, 7, 8, 16], sampledMillis: 9
            )
            let cost = Cost(cpu: Money(nanoUSD: 10), ram: Money(nanoUSD: 11), networkByClass: [12, 13, 14, 15, 17].map(Money.init(nanoUSD:)))
            // Large values too: Int64 all the way, no floating point on the way.
            var big = usage
            big.cpuCoreNanos = 1 << 60
            var bigCost = cost
            bigCost.cpu = Money(nanoUSD: (1 << 61) + 1)
            let rows = [
                UsageRow(key: key, labels: [:], startMillis: Fixture.t0, usage: usage, cost: cost),
                UsageRow(key: ContainerKey(cluster: "prod", node: "n1", namespace: "big", pod: "p", container: "c"), labels: [:], startMillis: Fixture.t0, usage: big, cost: bigCost),
            ]
            _ = try await store.ingest(Fixture.record(cluster: "prod", agent: "a", sequence: 1, node: "n1", receivedAt: Fixture.t0 + 60_000, rows: rows))
            for resolution in Resolution.allCases {
                let groups = try await store.costs(Fixture.costs(.namespace, resolution: resolution))
                let byName = Dictionary(uniqueKeysWithValues: groups.map { ($0.name, $0) })
                try expectEqual(byName["payments"]?.usage, usage, "usage read back (\(resolution) rows)")
                try expectEqual(byName["payments"]?.cost, cost, "cost read back (\(resolution) rows)")
                try expectEqual(byName["big"]?.usage, big, "large usage read back (\(resolution) rows)")
                try expectEqual(byName["big"]?.cost, bigCost, "large cost read back (\(resolution) rows)")
            }
            let buckets = try await store.series(Fixture.series(step: 60_000, filter: RowFilter(namespace: "payments")))
            try expectEqual(buckets, [SeriesBucket(startMillis: Fixture.t0, usage: usage, cost: cost)], "series read back")
        },
        StoreConformanceCheck("ingest: a container's labels are the latest reported") { store in
            let record1 = Fixture.record(cluster: "prod", agent: "a", sequence: 1, node: "n1", receivedAt: Fixture.minute(1), rows: [
                Fixture.row(key, labels: ["team": "old"], at: Fixture.minute(0), cpu: 100, ram: 0),
            ])
            let record2 = Fixture.record(cluster: "prod", agent: "a", sequence: 2, node: "n1", receivedAt: Fixture.minute(2), rows: [
                Fixture.row(key, labels: ["team": "new"], at: Fixture.minute(1), cpu: 200, ram: 0),
            ])
            _ = try await store.ingest([record1])
            _ = try await store.ingest([record2])
            try expectTotals(try await store.costs(Fixture.costs(.label("team"))), ["new": 300], "costs by label:team after a relabel")
        },
        StoreConformanceCheck("ingest: a group that fails stores none of its batches") { store in
            // A store keeps usage exact: a sum past Int64 is an error, never a wrap or a rounding.
            // That error is the portable way to make the second batch of a group fail.
            let near = Int64.max - 10
            var base = batch(1, cpu: 0)
            base.rows[0].cost.cpu = Money(nanoUSD: near)
            var overflowing = batch(2, cpu: 0)
            overflowing.rows[0].cost.cpu = Money(nanoUSD: 100)
            _ = try await store.ingest(base)
            let fine = Fixture.record(cluster: "dev", agent: "agent-9", sequence: 1, node: "d1", receivedAt: Fixture.t0 + 5_000, droppedTicks: 3, rows: [
                Fixture.row(ContainerKey(cluster: "dev", node: "d1", namespace: "web", pod: "w", container: "c"), at: Fixture.t0, cpu: 100, ram: 0),
            ])
            let failed: Bool
            do {
                _ = try await store.ingest([fine, overflowing])
                failed = false
            } catch {
                failed = true
            }
            if !failed {
                throw fail("ingest of a group whose second batch overflows a stored Int64 sum: expected an error, but it succeeded")
            }
            try expectEqual(try await store.batchCount(), 1, "batchCount() after the failed group")
            try expectEqual(try await store.lastBatchTimes(), ["prod": Fixture.t0 + 60_000], "lastBatchTimes() after the failed group")
            try expectEqual(try await store.gaps(cluster: "dev", limit: 10), [], "gaps of the failed group's first batch")
            let groups = try await store.costs(Fixture.costs(.cluster))
            try expectEqual(groups.map(\.name), ["prod"], "costs by cluster after the failed group")
            try expectEqual(groups.first?.cost.cpu.nanoUSD, near, "prod's CPU cost after the failed group")
            try expectEqual(try await store.ingest(fine), .committed, "ingest of the failed group's first batch on its own")
        },
    ]
}
