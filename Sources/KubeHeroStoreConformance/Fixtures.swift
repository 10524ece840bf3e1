import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

/// Times and builders shared by the checks. All times are Unix milliseconds.
enum Fixture {
    /// 2023-11-14T22:00:00Z: aligned to the hour, so minutes 0...59 after it share one hour row.
    static let t0: Int64 = 1_699_999_200_000

    /// One audit entry recording an action, as the hub would pass it.
    static func audit(_ action: AuditAction, subject: String = "fixture", at: Int64 = t0) -> [AuditDraft] {
        [AuditDraft(timeMillis: at, actor: .token("t1"), action: action, subject: subject)]
    }
    static let hour: Int64 = 3_600_000

    static func minute(_ i: Int64) -> Int64 { t0 + i * 60_000 }

    /// A row whose usage is derived from its cost, so that usage sums are predictable too:
    /// CPU used = 2 x CPU cost, requested = 3 x; memory = 5 x RAM cost, requested = 7 x;
    /// network bytes = 10 x network cost per class; 60 s sampled.
    static func row(
        _ key: ContainerKey, labels: [String: String] = [:], at start: Int64,
        cpu: Int64, ram: Int64, network: [Int64] = NetworkClass.zeros
    ) -> UsageRow {
        UsageRow(
            key: key, labels: labels, startMillis: start,
            usage: Usage(
                cpuCoreNanos: cpu * 2, cpuRequestCoreNanos: cpu * 3, memoryByteSeconds: ram * 5,
                memoryRequestByteSeconds: ram * 7, networkEgressBytes: network.map { $0 * 10 }, sampledMillis: 60_000
            ),
            cost: Cost(cpu: Money(nanoUSD: cpu), ram: Money(nanoUSD: ram), networkByClass: network.map(Money.init(nanoUSD:)))
        )
    }

    static func record(
        cluster: String, agent: String, sequence: UInt64, node: String, receivedAt: Int64,
        droppedTicks: UInt64 = 0, droppedBatches: UInt64 = 0, rows: [UsageRow]
    ) -> IngestRecord {
        IngestRecord(
            cluster: cluster, agentInstanceID: agent, sequence: sequence, node: node, receivedAtMillis: receivedAt,
            windowStartMillis: receivedAt - 60_000, windowEndMillis: receivedAt, sampleCount: rows.count * 60,
            droppedTicks: droppedTicks, droppedBatches: droppedBatches, rows: rows
        )
    }

    static func cluster(_ name: String, labels: [String: String] = [:], createdAt: Int64 = t0) -> ClusterRecord {
        ClusterRecord(name: name, cloud: .aws, region: "us-east-1", labels: labels, createdAtMillis: createdAt)
    }

    static func certificate(_ serial: String, cluster: String, notBefore: Int64 = t0) -> CertificateRecord {
        CertificateRecord(
            serialHex: serial, clusterName: cluster, notBeforeMillis: notBefore, notAfterMillis: notBefore + 365 * 24 * hour,
            pem: "-----BEGIN CERTIFICATE-----\n\(serial)\n-----END CERTIFICATE-----\n"
        )
    }

    /// Everything of one range query, for a start and an end.
    static func costs(
        _ aggregation: Aggregation, from start: Int64 = t0, to end: Int64 = t0 + hour,
        filter: RowFilter = RowFilter(), resolution: Resolution = .minute
    ) -> CostQuery {
        CostQuery(range: TimeRange(startUnixMillis: start, endUnixMillis: end), aggregation: aggregation, filter: filter, resolution: resolution)
    }

    static func series(
        step: Int64, from start: Int64 = t0, to end: Int64 = t0 + hour, filter: RowFilter = RowFilter(), resolution: Resolution = .minute
    ) -> SeriesQuery {
        SeriesQuery(range: TimeRange(startUnixMillis: start, endUnixMillis: end), stepMillis: step, filter: filter, resolution: resolution)
    }
}

/// A small fleet whose totals are worked out by hand below; most query checks read it.
///
/// | container | cluster/node | namespace/pod/container | labels | minute | cpu | ram | network | total |
/// |---|---|---|---|---|---|---|---|---|
/// | A | prod/n1 | payments/api-1/app | team=core, app.kubernetes.io/name=api | 0 | 500M | 200M | - | 700M |
/// | A | | | | 1 | 300M | 100M | - | 400M |
/// | B | prod/n1 | payments/api-1/sidecar | team=core | 0 | 100M | 300M | cross-zone 100M | 500M |
/// | C | prod/n2 | web/front-1/nginx | team=edge | 1 | 1000M | 0 | internet 200M | 1200M |
/// | D | dev/d1 | payments/api-1/app | (none) | 2 | 50M | 50M | - | 100M |
///
/// (M = 1,000,000 nano-USD.) Three batches, one per node.
enum World {
    static let a = ContainerKey(cluster: "prod", node: "n1", namespace: "payments", pod: "api-1", container: "app")
    static let b = ContainerKey(cluster: "prod", node: "n1", namespace: "payments", pod: "api-1", container: "sidecar")
    static let c = ContainerKey(cluster: "prod", node: "n2", namespace: "web", pod: "front-1", container: "nginx")
    static let d = ContainerKey(cluster: "dev", node: "d1", namespace: "payments", pod: "api-1", container: "app")

    static let appLabel = "app.kubernetes.io/name"
    static let aLabels = ["team": "core", appLabel: "api"]
    static let bLabels = ["team": "core"]
    static let cLabels = ["team": "edge"]

    static let m0 = Fixture.minute(0)
    static let m1 = Fixture.minute(1)
    static let m2 = Fixture.minute(2)

    static let records: [IngestRecord] = [
        Fixture.record(cluster: "prod", agent: "agent-n1", sequence: 1, node: "n1", receivedAt: Fixture.minute(3), rows: [
            Fixture.row(a, labels: aLabels, at: m0, cpu: 500_000_000, ram: 200_000_000),
            Fixture.row(b, labels: bLabels, at: m0, cpu: 100_000_000, ram: 300_000_000, network: [0, 0, 100_000_000, 0, 0]),
            Fixture.row(a, labels: aLabels, at: m1, cpu: 300_000_000, ram: 100_000_000),
        ]),
        Fixture.record(cluster: "prod", agent: "agent-n2", sequence: 1, node: "n2", receivedAt: Fixture.minute(3) + 1_000, rows: [
            Fixture.row(c, labels: cLabels, at: m1, cpu: 1_000_000_000, ram: 0, network: [0, 0, 0, 200_000_000, 0]),
        ]),
        Fixture.record(cluster: "dev", agent: "agent-d1", sequence: 1, node: "d1", receivedAt: Fixture.minute(3) + 2_000, rows: [
            Fixture.row(d, at: m2, cpu: 50_000_000, ram: 50_000_000),
        ]),
    ]

    /// Stores the world's batches, checking that each was committed.
    static func ingest(into store: any HubStore) async throws {
        let outcomes = try await store.ingest(records)
        try expectEqual(outcomes, [.committed, .committed, .committed], "ingest of the sample fleet's three new batches")
    }
}
