import KubeHeroTestSupport
import Foundation
import KubeHeroCore
@testable import KubeHeroHub
import KubeHeroStore
import KubeHeroStoreSQLite
import Testing

/// Hourly rollups inside, minute rows at the edges: the same totals as reading minutes only.
@Suite("Cost planner")
struct CostPlannerTests {
    static let t0: Int64 = 1_795_003_200_000 // 2026-11-18T12:00:00Z, on the hour

    /// A real SQLite store with one container's rows every minute for three hours, each minute
    /// costing a different amount so that any dropped or doubled minute shows.
    static func withStore(_ body: (any HubStore) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("planner-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore.open(path: dir + "/hub.sqlite")
        do {
            try await store.createCluster(
                ClusterRecord(name: "c1", cloud: .aws, region: "us-east-1", labels: [:], createdAtMillis: t0),
                certificate: CertificateRecord(serialHex: "01", clusterName: "c1", notBeforeMillis: t0, notAfterMillis: t0 + 1, pem: "")
            , audit: [])
            let key = ContainerKey(cluster: "c1", node: "n", namespace: "ns", pod: "p", container: "c")
            var rows = [UsageRow]()
            for i in 0..<180 {
                let amount = Int64(i + 1) * 1_000
                let usage = Usage(cpuCoreNanos: amount, sampledMillis: 60_000)
                rows.append(UsageRow(key: key, labels: [:], startMillis: t0 + Int64(i) * 60_000, usage: usage, cost: Cost(cpu: Money(nanoUSD: amount))))
            }
            _ = try await store.ingest(IngestRecord(
                cluster: "c1", agentInstanceID: "a", sequence: 1, node: "n", receivedAtMillis: t0,
                windowStartMillis: t0, windowEndMillis: t0 + 180 * 60_000, sampleCount: 180, rows: rows
            ))
            try await body(store)
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
    }

    @Test("mixed-resolution answers equal minute-only answers", arguments: [
        (7, 173), (0, 180), (59, 61), (60, 120), (1, 119), (30, 150),
    ])
    func mixedEqualsMinutes(fromMinute: Int, toMinute: Int) async throws {
        try await Self.withStore { store in
            let range = TimeRange(startUnixMillis: Self.t0 + Int64(fromMinute) * 60_000, endUnixMillis: Self.t0 + Int64(toMinute) * 60_000)
            let (label, mixed) = try await CostPlanner(store: store).costs(range: range, aggregation: .namespace, filter: RowFilter(), preferred: .minute)
            let minutes = try await store.costs(CostQuery(range: range, aggregation: .namespace, resolution: .minute))
            #expect(mixed == minutes)
            // sum of (i + 1) * 1000 for i in [from, to)
            let expected = (fromMinute..<toMinute).reduce(Int64(0)) { $0 + Int64($1 + 1) * 1_000 }
            #expect(mixed.first?.cost.total.nanoUSD == expected)
            let firstHour = (fromMinute + 59) / 60 * 60
            let lastHour = toMinute / 60 * 60
            if lastHour - firstHour >= 60 { #expect(label != "minute", "a whole hour inside the range is read from hourly rollups") }
        }
    }
}
