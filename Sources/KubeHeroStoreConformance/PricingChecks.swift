import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

/// Price versions, node-minutes and re-pricing.
enum PricingChecks {
    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("price versions get increasing ids and are listed by effective time") { store in
            let late = try await store.importPriceVersion(PriceVersionRecord(
                effectiveAtMillis: Fixture.t0 + Fixture.hour, importedAtMillis: Fixture.t0, origin: "b.json", catalogJSON: "{\"b\":1}", changes: ["~ x", "+ y"]
            )) { v in Fixture.audit(.pricingImport, subject: "price-version/\(v.id)") }
            let early = try await store.importPriceVersion(PriceVersionRecord(
                effectiveAtMillis: 0, importedAtMillis: Fixture.t0 + 1, origin: "a.json", catalogJSON: "{\"a\":1}", changes: []
            )) { v in Fixture.audit(.pricingImport, subject: "price-version/\(v.id)") }
            if !(late.id > 0 && early.id > late.id) { throw fail("price version ids: expected increasing positive ids, got \(late.id), \(early.id)") }
            let listed = try await store.priceVersions()
            try expectEqual(listed, [early, late], "price versions by effective time")
            try expectEqual(
                try await store.auditEntries(matching: AuditQuery()).map(\.subject), ["price-version/\(late.id)", "price-version/\(early.id)"],
                "the imports' audit entries, with the ids the store gave"
            )
        },
        StoreConformanceCheck("ingest records node-minutes, adding observed time; the newest is found per node") { store in
            let key = ContainerKey(cluster: "c1", node: "n1", namespace: "ns", pod: "p", container: "c")
            var node = NodeInfo(name: "n1", instanceType: "m5.xlarge", region: "us-east-1", capacityType: .spot,
                                cpuCapacityMillicores: 4000, memoryCapacityBytes: 16 << 30, gpuCount: 1, hourlyPriceOverride: "0.1")
            var first = Fixture.record(cluster: "c1", agent: "a", sequence: 1, node: "n1", receivedAt: Fixture.minute(1), rows: [Fixture.row(key, at: Fixture.minute(0), cpu: 1, ram: 1)])
            first.nodeMinutes = [NodeMinuteRecord(cluster: "c1", startMillis: Fixture.minute(0), node: node, observedMillis: 30_000, priceVersion: 1)]
            node.capacityType = .onDemand
            var second = Fixture.record(cluster: "c1", agent: "a", sequence: 2, node: "n1", receivedAt: Fixture.minute(2), rows: [])
            second.nodeMinutes = [
                NodeMinuteRecord(cluster: "c1", startMillis: Fixture.minute(0), node: node, observedMillis: 30_000, priceVersion: 2),
                NodeMinuteRecord(cluster: "c1", startMillis: Fixture.minute(1), node: node, observedMillis: 60_000, priceVersion: 2),
            ]
            _ = try await store.ingest([first, second])
            let latest = try await store.latestNodeMinute(cluster: "c1", node: "n1")
            try expectEqual(latest, second.nodeMinutes[1], "newest node-minute")
            try expectEqual(try await store.latestNodeMinute(cluster: "c1", node: "other"), nil, "node-minute of an unknown node")
        },
        StoreConformanceCheck("re-pricing replaces minute costs, moves hour rollups by the difference, and may add idle rows") { store in
            let key = ContainerKey(cluster: "c1", node: "n1", namespace: "ns", pod: "p", container: "c")
            let node = NodeInfo(name: "n1", instanceType: "m5.xlarge")
            var record = Fixture.record(cluster: "c1", agent: "a", sequence: 1, node: "n1", receivedAt: Fixture.minute(2), rows: [
                Fixture.row(key, at: Fixture.minute(0), cpu: 100, ram: 50), Fixture.row(key, at: Fixture.minute(1), cpu: 100, ram: 50),
            ])
            record.nodeMinutes = [0, 1].map { NodeMinuteRecord(cluster: "c1", startMillis: Fixture.minute($0), node: node, observedMillis: 60_000, priceVersion: 1) }
            _ = try await store.ingest(record)
            let idleKey = ContainerKey(cluster: "c1", node: "n1", namespace: IdleIdentity.name, pod: IdleIdentity.name, container: IdleIdentity.name)
            // Only minute 1 is in the window: its row's CPU doubles and an idle row of 30 appears.
            let summary = try await store.reprice(
                range: TimeRange(startUnixMillis: Fixture.minute(1), endUnixMillis: Fixture.minute(2)), cluster: "c1", priceVersion: 7
            ) { minute, rows in
                guard minute.startMillis == Fixture.minute(1), rows.count == 1 else { return rows }
                var row = rows[0]
                row.cost.cpu = Money(nanoUSD: 200)
                return [row, UsageRow(key: idleKey, labels: [:], startMillis: minute.startMillis, usage: .zero, cost: Cost(ram: Money(nanoUSD: 30)))]
            } audit: { summary in
                Fixture.audit(.pricingReprice, subject: "rows/\(summary.rows)")
            }
            try expectEqual(try await store.auditEntries(matching: AuditQuery()).map(\.subject), ["rows/2"], "the re-price's audit entry")
            try expectEqual(summary, RepriceSummary(nodeMinutes: 1, rows: 2, before: Money(nanoUSD: 150), after: Money(nanoUSD: 280)), "re-price summary")
            for resolution in Resolution.allCases {
                let groups = try await store.costs(Fixture.costs(.namespace, resolution: resolution))
                try expectTotals(groups, ["ns": 400, IdleIdentity.name: 30], "costs after re-pricing (\(resolution))")
                try expectEqual(groups.first { $0.name == IdleIdentity.name }?.idle, Money(nanoUSD: 30), "idle of the idle group (\(resolution))")
                try expectEqual(groups.first { $0.name == "ns" }?.idle, .zero, "idle of a namespace (\(resolution))")
            }
            try expectEqual(try await store.latestNodeMinute(cluster: "c1", node: "n1")?.priceVersion, 7, "re-priced node-minute's version")
        },
        StoreConformanceCheck("GPU and storage usage and cost round-trip") { store in
            let key = ContainerKey(cluster: "c1", node: "n1", namespace: "ml", pod: "p", container: "c")
            let row = UsageRow(
                key: key, labels: [:], startMillis: Fixture.minute(0),
                usage: Usage(sampledMillis: 60_000, gpuRequestMillis: 120_000, storageRequestByteSeconds: 60 << 30),
                cost: Cost(gpu: Money(nanoUSD: 14_000_000), storage: Money(nanoUSD: 3_000))
            )
            _ = try await store.ingest(Fixture.record(cluster: "c1", agent: "a", sequence: 1, node: "n1", receivedAt: Fixture.minute(1), rows: [row]))
            let groups = try await store.costs(Fixture.costs(.namespace))
            try expectEqual(groups.first?.usage, row.usage, "GPU and storage usage")
            try expectEqual(groups.first?.cost, row.cost, "GPU and storage cost")
        },
    ]
}
