import KubeHeroTestSupport
import Foundation
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroIngestClient
import KubeHeroPKI
import Testing

/// The whole path: cluster registered over the REST API with a CSR, a batch over mTLS gRPC,
/// priced and committed to SQLite, acknowledged, and read back through `kubehero cost`.
///
/// Hand-computed expectations. m5.large in us-east-1 costs $0.096/h for 2 vCPU and 8 GiB. The
/// default rate card's ratio (CPU $0.031611, RAM $0.004237) splits it:
///   weight = 2 * 0.031611 + 8 * 0.004237 = 0.097118
///   CPU  = 0.096 * 0.031611 / 0.097118 = $0.031247101/core-hour  (31,247,101 nano-USD)
///   RAM  = 0.096 * 0.004237 / 0.097118 = $0.004188225/GiB-hour   (4,188,225 nano-USD)
/// payments/api: 250m used, 500m requested -> 0.5 core x 60 s at the request:
///   30e9 core-ns * 31,247,101 / 3.6e12 = 260,392.5 -> 260,393
/// 2 GiB used, 1 GiB requested -> 2 GiB x 60 s: 2 * 60 * 4,188,225 / 3600 = 139,607.5 -> 139,608
/// cross-zone egress 1 GiB total at $0.01/GiB -> 10,000,000.  Total 10,400,001 nano-USD.
/// search/indexer: 1 core used, 100m requested -> 60e9 core-ns: 520,785.0 -> 520,785
/// 512 MiB used, 1 GiB requested -> 1 GiB x 60 s: 60 * 4,188,225 / 3600 = 69,803.75 -> 69,804
///   Total 590,589 nano-USD.
/// The node for one minute: 0.096 * 60 / 3600 = $0.0016 (1,600,000 nano-USD); allocated CPU and
/// RAM 260,393 + 139,608 + 520,785 + 69,804 = 990,590, so idle (`__idle__`) is 609,410.
@Suite("End to end")
struct EndToEndTests {
    static let paymentsNano: Int64 = 10_400_001
    static let searchNano: Int64 = 590_589
    static let idleNano: Int64 = 609_410
    static let nodeMinuteNano: Int64 = 1_600_000

    static func twoContainers() -> [ContainerSamples] {
        [
            steadyContainer(
                cgroupID: 101, namespace: "payments", pod: "api-7d9f", container: "api", labels: ["team": "core"],
                cpuNanosPerTick: 250_000_000, memoryBytes: 2 << 30, cpuRequestMillicores: 500, memoryRequestBytes: 1 << 30,
                crossZoneBytesPerTick: (1 << 30) / 60 + 1 // 60 ticks of this sum to just over 1 GiB...
            ),
            steadyContainer(
                cgroupID: 102, namespace: "search", pod: "indexer-0", container: "indexer", labels: ["team": "ml"],
                cpuNanosPerTick: 1_000_000_000, memoryBytes: 512 << 20, cpuRequestMillicores: 100, memoryRequestBytes: 1 << 30
            ),
        ]
    }

    @Test("a batch's cost reaches `kubehero cost` exactly as computed by hand")
    func batchToCLI() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("prod-us-east-1", labels: ["env": "prod"])
            var containers = Self.twoContainers()
            // Exactly 1 GiB of cross-zone egress: 59 ticks of 17,895,697 bytes and one of the rest.
            containers[0].networkEgressBytes[.crossZone] = Array(repeating: 17_895_697, count: 59) + [(1 << 30) - 59 * 17_895_697]
            let batch = minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: containers)
            let reply = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                try await stream.sendAndWait(batch)
            }
            #expect(reply == .ack(agentInstanceID: "agent-1", sequence: 1, duplicate: false))

            let env = ["KUBEHERO_HUB": hub.apiURL, "KUBEHERO_TOKEN": hub.adminToken, "KUBEHERO_CA_FILE": hub.caFile]
            let json = try await runProductDetached("kubehero", ["cost", "--window", "24h", "--aggregate", "namespace", "-o", "json"], environment: env)
            #expect(json.status == 0, "kubehero cost failed: \(json.stderr)")
            let response = try JSONDecoder().decode(CostsResponse.self, from: Data(json.stdout.utf8))
            let groups = Dictionary(uniqueKeysWithValues: response.steps[0].groups.map { ($0.name, $0) })
            #expect(groups["payments"]?.totalCostNanoUSD == Self.paymentsNano)
            #expect(groups["payments"]?.cpuCost == "0.000260393")
            #expect(groups["payments"]?.ramCost == "0.000139608")
            #expect(groups["payments"]?.networkCost == "0.01")
            #expect(groups["search"]?.totalCostNanoUSD == Self.searchNano)
            #expect(groups["__idle__"]?.totalCostNanoUSD == Self.idleNano)
            #expect(groups["__idle__"]?.idleCostNanoUSD == Self.idleNano)
            #expect(groups["payments"]?.idleCostNanoUSD == 0)
            #expect(response.steps[0].groups.map(\.name) == ["payments", "__idle__", "search"], "sorted by cost, most expensive first")

            let table = try await runProductDetached("kubehero", ["cost", "--window", "24h", "--aggregate", "namespace"], environment: env)
            #expect(table.status == 0, "kubehero cost failed: \(table.stderr)")
            #expect(table.stdout.contains("payments"))
            #expect(table.stdout.contains("$0.0104"), "table shows the payments total: \(table.stdout)")

            let byCluster = try await runProductDetached("kubehero", ["cost", "--window", "24h", "--aggregate", "cluster", "-o", "json"], environment: env)
            let clusters = try JSONDecoder().decode(CostsResponse.self, from: Data(byCluster.stdout.utf8))
            #expect(clusters.steps[0].groups.map(\.name) == ["prod-us-east-1"])
            // Allocated + idle is the node's price for the minute, plus egress.
            #expect(clusters.steps[0].groups.first?.totalCostNanoUSD == Self.paymentsNano + Self.searchNano + Self.idleNano)
            #expect(clusters.steps[0].groups.first?.totalCostNanoUSD == Self.nodeMinuteNano + 10_000_000)
            #expect(clusters.steps[0].groups.first?.idleCostNanoUSD == Self.idleNano)
        }
    }

    @Test("series of one container has one point per minute with its cost")
    func seriesOfOneContainer() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            let minute = recentMinute()
            try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                for (i, start) in [minute - 60_000, minute].enumerated() {
                    let batch = minuteBatch(sequence: UInt64(i + 1), minuteStartMillis: start, containers: [Self.twoContainers()[1]])
                    _ = try await stream.sendAndWait(batch)
                }
            }
            let series = try await hub.withClient { client in
                try await client.series(.init(window: "1h", step: "1m", filter: .init(namespace: "search", pod: "indexer-0", container: "indexer")))
            }
            #expect(series.points.count == 2)
            #expect(series.points.allSatisfy { $0.totalCostNanoUSD == Self.searchNano })
            #expect(series.points.first?.cpuCores == 1.0)
        }
    }

    @Test("a hub restart keeps every acknowledged batch")
    func restartKeepsAcknowledged() async throws {
        let dataDir = try await TestHub.makeDataDir()
        defer { try? FileManager.default.removeItem(atPath: dataDir.0) }
        let minute = recentMinute()
        let bundle = try await withTestHub(dataDir: dataDir, keepDataDir: true) { hub in
            let bundle = try await hub.registerCluster("c1")
            try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                for seq in 1...3 {
                    let reply = try await stream.sendAndWait(minuteBatch(sequence: UInt64(seq), minuteStartMillis: minute - Int64(3 - seq) * 60_000, containers: Self.twoContainers()))
                    #expect(reply == .ack(agentInstanceID: "agent-1", sequence: UInt64(seq), duplicate: false))
                }
            }
            return bundle
        }
        try await withTestHub(dataDir: dataDir, keepDataDir: true) { hub in
            let costs = try await hub.withClient { try await $0.costs(.init(window: "1h", aggregate: "cluster")) }
            let perMinute = Self.paymentsNano - 10_000_000 + Self.searchNano // no egress in twoContainers() beyond the rounded column
            #expect(costs.steps[0].groups.count == 1)
            #expect(costs.steps[0].groups[0].totalCostNanoUSD >= 3 * perMinute)
            // The old certificate still works after the restart, and a re-send is recognised.
            let reply = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                try await stream.sendAndWait(minuteBatch(sequence: 2, minuteStartMillis: minute - 60_000, containers: Self.twoContainers()))
            }
            #expect(reply == .ack(agentInstanceID: "agent-1", sequence: 2, duplicate: true))
        }
    }
}
