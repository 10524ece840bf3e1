import KubeHeroCore
import KubeHeroStore

/// Queries over `World` (see its table for where every number comes from).
enum QueryChecks {
    static let m0 = World.m0, m1 = World.m1, m2 = World.m2

    /// The same aggregation at both resolutions: all of `World` lies in one hour, so the hour
    /// rows must give the minute rows' totals.
    static func aggregation(_ aggregation: Aggregation, _ expected: KeyValuePairs<String, Int64>) -> StoreConformanceCheck {
        StoreConformanceCheck("costs: grouped by \(aggregation), at minute and hour resolution") { store in
            try await World.ingest(into: store)
            for resolution in Resolution.allCases {
                try expectTotals(
                    try await store.costs(Fixture.costs(aggregation, resolution: resolution)), expected,
                    "costs by \(aggregation) (\(resolution) rows)"
                )
            }
        }
    }

    static let all: [StoreConformanceCheck] = [
        aggregation(.cluster, ["prod": 2_800_000_000, "dev": 100_000_000]),
        aggregation(.node, ["n1": 1_600_000_000, "n2": 1_200_000_000, "d1": 100_000_000]),
        aggregation(.namespace, ["payments": 1_700_000_000, "web": 1_200_000_000]),
        // Pods of the same namespace and name in two clusters are one group.
        aggregation(.pod, ["payments/api-1": 1_700_000_000, "web/front-1": 1_200_000_000]),
        // Equal totals are ordered by name.
        aggregation(.container, ["payments/api-1/app": 1_200_000_000, "web/front-1/nginx": 1_200_000_000, "payments/api-1/sidecar": 500_000_000]),
        aggregation(.label("team"), ["core": 1_600_000_000, "edge": 1_200_000_000, "__unlabelled__": 100_000_000]),
        // A prefixed key with dots and a slash, as Kubernetes' recommended labels have.
        aggregation(.label(World.appLabel), ["__unlabelled__": 1_800_000_000, "api": 1_100_000_000]),
        aggregation(.label("no-such-label"), ["__unlabelled__": 2_900_000_000]),

        StoreConformanceCheck("costs: a group sums every usage and cost component") { store in
            try await World.ingest(into: store)
            let groups = try await store.costs(Fixture.costs(.namespace))
            guard let payments = groups.first(where: { $0.name == "payments" }) else {
                throw fail("costs by namespace: expected a group \"payments\", got \(groups.map(\.name))")
            }
            // Rows A@0, A@1, B@0, D@2.
            try expectEqual(
                payments.cost,
                Cost(cpu: Money(nanoUSD: 950_000_000), ram: Money(nanoUSD: 650_000_000), networkByClass: [0, 0, 100_000_000, 0, 0].map(Money.init(nanoUSD:))),
                "costs by namespace: the cost components of \"payments\""
            )
            try expectEqual(
                payments.usage,
                Usage(
                    cpuCoreNanos: 1_900_000_000, cpuRequestCoreNanos: 2_850_000_000, memoryByteSeconds: 3_250_000_000,
                    memoryRequestByteSeconds: 4_550_000_000, networkEgressBytes: [0, 0, 1_000_000_000, 0, 0], sampledMillis: 240_000
                ),
                "costs by namespace: the usage of \"payments\""
            )
        },
        StoreConformanceCheck("costs: filters select rows by cluster, node, namespace, pod and container") { store in
            try await World.ingest(into: store)
            let cases: [(RowFilter, Aggregation, KeyValuePairs<String, Int64>)] = [
                (RowFilter(cluster: "prod"), .namespace, ["payments": 1_600_000_000, "web": 1_200_000_000]),
                (RowFilter(cluster: "prod", namespace: "payments"), .container, ["payments/api-1/app": 1_100_000_000, "payments/api-1/sidecar": 500_000_000]),
                (RowFilter(node: "n2"), .cluster, ["prod": 1_200_000_000]),
                (RowFilter(pod: "api-1"), .namespace, ["payments": 1_700_000_000]),
                (RowFilter(container: "app"), .cluster, ["prod": 1_100_000_000, "dev": 100_000_000]),
                (RowFilter(cluster: "dev", node: "d1", namespace: "payments", pod: "api-1", container: "app"), .pod, ["payments/api-1": 100_000_000]),
                (RowFilter(cluster: "prod", namespace: "web"), .label("team"), ["edge": 1_200_000_000]),
                (RowFilter(namespace: "nothing-here"), .namespace, [:]),
            ]
            for (filter, aggregation, expected) in cases {
                for resolution in Resolution.allCases {
                    try expectTotals(
                        try await store.costs(Fixture.costs(aggregation, filter: filter, resolution: resolution)), expected,
                        "costs by \(aggregation) with \(filter) (\(resolution) rows)"
                    )
                }
            }
        },
        StoreConformanceCheck("costs: the range is half-open, [start, end)") { store in
            try await World.ingest(into: store)
            let cases: [(Int64, Int64, KeyValuePairs<String, Int64>)] = [
                (m0, m1, ["payments": 1_200_000_000]),
                (m1, m2, ["web": 1_200_000_000, "payments": 400_000_000]),
                (m0 + 1, m2, ["web": 1_200_000_000, "payments": 400_000_000]),
                (m2, m2 + 1, ["payments": 100_000_000]),
                (m0 - Fixture.hour, m0, [:]),
                (m1, m1, [:]),
            ]
            for (start, end, expected) in cases {
                try expectTotals(
                    try await store.costs(Fixture.costs(.namespace, from: start, to: end)), expected,
                    "costs by namespace over [\(start), \(end))"
                )
            }
        },
        StoreConformanceCheck("series: rows are summed per step from the range start; empty steps are omitted") { store in
            try await World.ingest(into: store)
            let cases: [(SeriesQuery, KeyValuePairs<Int64, Int64>, String)] = [
                (Fixture.series(step: 60_000), [m0: 1_200_000_000, m1: 1_600_000_000, m2: 100_000_000], "1-minute steps"),
                (Fixture.series(step: 120_000), [m0: 2_800_000_000, m2: 100_000_000], "2-minute steps"),
                (Fixture.series(step: 60_000, from: m0 - 30_000), [m0 - 30_000: 1_200_000_000, m1 - 30_000: 1_600_000_000, m2 - 30_000: 100_000_000], "steps from a start between minutes"),
                (Fixture.series(step: 60_000, from: m1, to: m2), [m1: 1_600_000_000], "a range of one minute"),
                (Fixture.series(step: 60_000, filter: RowFilter(namespace: "web")), [m1: 1_200_000_000], "a namespace filter"),
                (Fixture.series(step: 60_000, filter: RowFilter(cluster: "dev")), [m2: 100_000_000], "a cluster filter"),
                (Fixture.series(step: Fixture.hour, resolution: .hour), [Fixture.t0: 2_900_000_000], "hour rows in 1-hour steps"),
                (Fixture.series(step: 60_000, from: m0 - Fixture.hour, to: m0), [:], "a range before every row"),
            ]
            for (query, expected, what) in cases {
                try expectBuckets(try await store.series(query), expected, "series with \(what)")
            }
        },
        StoreConformanceCheck("hour rows: each is the sum of the minute rows of its hour") { store in
            let key = World.a
            let h0 = Fixture.t0, h1 = Fixture.t0 + Fixture.hour
            // Minute 59 of one hour and minutes 0 and 1 of the next, over two batches.
            _ = try await store.ingest([
                Fixture.record(cluster: "prod", agent: "a", sequence: 1, node: "n1", receivedAt: h1, rows: [
                    Fixture.row(key, at: h1 - 60_000, cpu: 300_000_000, ram: 0),
                    Fixture.row(key, at: h1, cpu: 200_000_000, ram: 0),
                ]),
                Fixture.record(cluster: "prod", agent: "a", sequence: 2, node: "n1", receivedAt: h1 + 60_000, rows: [
                    Fixture.row(key, at: h1 + 60_000, cpu: 150_000_000, ram: 10_000_000),
                ]),
            ])
            let expected: KeyValuePairs<Int64, Int64> = [h0: 300_000_000, h1: 360_000_000]
            try expectBuckets(
                try await store.series(Fixture.series(step: Fixture.hour, from: h0, to: h1 + Fixture.hour, resolution: .minute)),
                expected, "minute rows in 1-hour steps"
            )
            try expectBuckets(
                try await store.series(Fixture.series(step: Fixture.hour, from: h0, to: h1 + Fixture.hour, resolution: .hour)),
                expected, "hour rows in 1-hour steps"
            )
            try expectTotals(
                try await store.costs(Fixture.costs(.container, from: h1, to: h1 + Fixture.hour, resolution: .hour)),
                ["payments/api-1/app": 360_000_000], "costs by container of the second hour (hour rows)"
            )
        },
    ]
}

enum MaintenanceChecks {
    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("lastBatchTimes: the newest receive time of each cluster's committed batches") { store in
            try expectEqual(try await store.lastBatchTimes(), [:], "lastBatchTimes() of an empty store")
            let t = Fixture.t0
            func record(_ cluster: String, _ agent: String, _ sequence: UInt64, _ receivedAt: Int64) -> IngestRecord {
                Fixture.record(cluster: cluster, agent: agent, sequence: sequence, node: "n", receivedAt: receivedAt, rows: [])
            }
            _ = try await store.ingest([record("prod", "a", 1, t + 1_000), record("prod", "b", 1, t + 3_000), record("dev", "c", 1, t + 1_500)])
            // Committed later but received earlier: the newest receive time stays.
            _ = try await store.ingest([record("prod", "a", 2, t + 2_000)])
            try expectEqual(try await store.lastBatchTimes(), ["prod": t + 3_000, "dev": t + 1_500], "lastBatchTimes()")
        },
        StoreConformanceCheck("gaps: dropped ticks or batches are recorded per cluster, newest first") { store in
            let t = Fixture.t0
            let bigSequence: UInt64 = (1 << 63) + 5  // sequences are UInt64: all 64 bits are kept
            _ = try await store.ingest([
                Fixture.record(cluster: "prod", agent: "a", sequence: 1, node: "n1", receivedAt: t + 1_000, droppedTicks: 5, rows: []),
                Fixture.record(cluster: "prod", agent: "a", sequence: 2, node: "n1", receivedAt: t + 2_000, rows: []),
                Fixture.record(cluster: "prod", agent: "b", sequence: bigSequence, node: "n2", receivedAt: t + 3_000, droppedBatches: 2, rows: []),
                Fixture.record(cluster: "dev", agent: "c", sequence: 1, node: "d1", receivedAt: t + 4_000, droppedTicks: 1, droppedBatches: 1, rows: []),
            ])
            // A duplicate reports nothing new.
            _ = try await store.ingest(Fixture.record(cluster: "prod", agent: "a", sequence: 1, node: "n1", receivedAt: t + 9_000, droppedTicks: 5, rows: []))
            let newest = GapRecord(cluster: "prod", node: "n2", agentInstanceID: "b", sequence: bigSequence, reportedAtMillis: t + 3_000, droppedTicks: 0, droppedBatches: 2)
            let oldest = GapRecord(cluster: "prod", node: "n1", agentInstanceID: "a", sequence: 1, reportedAtMillis: t + 1_000, droppedTicks: 5, droppedBatches: 0)
            try expectEqual(try await store.gaps(cluster: "prod", limit: 10), [newest, oldest], "gaps(cluster: prod)")
            try expectEqual(try await store.gaps(cluster: "prod", limit: 1), [newest], "gaps(cluster: prod, limit: 1)")
            try expectEqual(try await store.gaps(cluster: "dev", limit: 10).map(\.droppedBatches), [1], "gaps(cluster: dev)")
            try expectEqual(try await store.gaps(cluster: "staging", limit: 10), [], "gaps of a cluster without any")
        },
        StoreConformanceCheck("batchCount: counts committed batches, not duplicates") { store in
            try expectEqual(try await store.batchCount(), 0, "batchCount() of an empty store")
            try await World.ingest(into: store)
            try expectEqual(try await store.batchCount(), 3, "batchCount() after three batches")
            _ = try await store.ingest(World.records)
            try expectEqual(try await store.batchCount(), 3, "batchCount() after the same three again")
        },
        StoreConformanceCheck("deleteRows: deletes rows of one resolution that start before a time") { store in
            try await World.ingest(into: store)
            try expectEqual(try await store.deleteRows(resolution: .minute, beforeMillis: World.m2), 4, "deleteRows(.minute) before minute 2")
            try expectTotals(try await store.costs(Fixture.costs(.namespace)), ["payments": 100_000_000], "costs by namespace after deleting minute rows (minute rows)")
            try expectTotals(
                try await store.costs(Fixture.costs(.namespace, resolution: .hour)), ["payments": 1_700_000_000, "web": 1_200_000_000],
                "costs by namespace after deleting minute rows (hour rows)"
            )
            try expectEqual(try await store.deleteRows(resolution: .minute, beforeMillis: World.m2), 0, "deleteRows(.minute) before minute 2 again")
            // One hour row per container: A, B, C and D.
            try expectEqual(try await store.deleteRows(resolution: .hour, beforeMillis: Fixture.t0 + Fixture.hour), 4, "deleteRows(.hour) before the second hour")
            try expectTotals(try await store.costs(Fixture.costs(.namespace, resolution: .hour)), [:], "costs by namespace after deleting hour rows (hour rows)")
            try expectTotals(try await store.costs(Fixture.costs(.namespace)), ["payments": 100_000_000], "costs by namespace after deleting hour rows (minute rows)")
            try expectEqual(try await store.batchCount(), 3, "batchCount() after deleting rows")
        },
        StoreConformanceCheck("deleteBatchKeys: forgets keys of batches whose window ended before a time, and only those") { store in
            try await World.ingest(into: store)
            // Windows end at minute 3, minute 3 + 1 s and minute 3 + 2 s.
            try expectEqual(try await store.deleteBatchKeys(windowEndBeforeMillis: Fixture.minute(3) + 1_500), 2, "deleteBatchKeys before minute 3 + 1.5 s")
            try expectEqual(try await store.deleteBatchKeys(windowEndBeforeMillis: Fixture.minute(3) + 1_500), 0, "deleteBatchKeys again")
            try expectEqual(
                try await store.ingest([World.records[2], World.records[0]]), [.duplicate, .committed],
                "re-ingest of a remembered and a forgotten batch"
            )
        },
    ]
}
