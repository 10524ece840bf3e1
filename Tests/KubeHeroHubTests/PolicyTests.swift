import Foundation
import KubeHeroAudit
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroPolicy
import KubeHeroStore
import KubeHeroStoreSQLite
import KubeHeroTestSupport
import Synchronization
import Testing

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let t: Mutex<Int64>
    init(_ start: Int64) { t = Mutex(start) }
    var now: Int64 { t.withLock { $0 } }
    func set(_ v: Int64) { t.withLock { $0 = v } }
    var read: @Sendable () -> Int64 { { self.now } }
}

private let hour: Int64 = 3_600_000
private let dollar: Int64 = 1_000_000_000
/// 2026-11-02T00:00:00Z.
private let monday = Timestamp.parseRFC3339("2026-11-02T00:00:00Z")!

/// A real SQLite store in a temporary file, removed afterwards.
func withTemporaryStore<R>(_ body: (String) async throws -> R) async throws -> R {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-policy-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try await body(dir + "/hub.db")
}

func certificate(_ serial: String, _ cluster: String) -> CertificateRecord {
    CertificateRecord(serialHex: serial, clusterName: cluster, notBeforeMillis: 0, notAfterMillis: Int64.max / 2, pem: "-")
}

/// One hour of spend (all CPU) of a container, as an ingest would store it.
func spend(_ store: SQLiteStore, cluster: String, namespace: String, labels: [String: String] = [:], dollars: Int64, at start: Int64, sequence: UInt64) async throws {
    let key = ContainerKey(cluster: cluster, node: "n1", namespace: namespace, pod: "p", container: "c")
    let row = UsageRow(key: key, labels: labels, startMillis: start, usage: Usage(), cost: Cost(cpu: Money(nanoUSD: dollars * dollar)))
    _ = try await store.ingest(IngestRecord(
        cluster: cluster, agentInstanceID: "a", sequence: sequence, node: "n1", receivedAtMillis: start + 60_000,
        windowStartMillis: start, windowEndMillis: start + 60_000, sampleCount: 1, rows: [row]
    ))
}

func put(_ store: SQLiteStore, _ yaml: String, armed: Bool = false) async throws {
    let p = try BudgetPolicyParser.parse(yaml: yaml, source: "test")
    try await store.putPolicy(PolicyRecord(name: p.name, documentJSON: p.canonicalJSON(), armed: armed, revision: 1, createdAtMillis: 0, updatedAtMillis: 0), audit: [])
}

let dailyProdCap = """
    apiVersion: kubehero.kubehero.io/v1
    kind: BudgetPolicy
    metadata: { name: prod-daily }
    spec:
      scope: { clusterSelector: { matchLabels: { env: prod } }, namespaceSelector: { matchNames: [payments] } }
      ceiling: "$100/day"
      hardStop: true
      humanArm: false
    """

@Suite("BudgetPolicy evaluation on the hub")
struct PolicyEngineTests {
    func actions(_ store: any HubStore) async throws -> [String] {
        try await store.auditEntries(matching: AuditQuery()).map(\.action.rawValue)
    }

    @Test("thresholds fire once, in order, are recorded with the state, survive a restart and reset at period start")
    func thresholdsOverDaysAndARestart() async throws {
        try await withTemporaryStore { path in
            let clock = TestClock(monday)
            var store = try await SQLiteStore.open(path: path, logger: quietLogger)
            try await store.createCluster(ClusterRecord(name: "prod-a", cloud: .aws, region: "us-east-1", labels: ["env": "prod"], createdAtMillis: 0), certificate: certificate("01", "prod-a"), audit: [])
            try await put(store, dailyProdCap)
            var engine = PolicyEngine(store: store, enforcement: EnforcementBroadcaster(), alerter: nil, now: clock.read, logger: quietLogger)
            // $5 an hour in payments (counted) and $500 in web (not in the scope): 50 % at 10:00,
            // 80 % at 16:00; the forecast (the last 24 hours' rate, which counts the empty hours
            // before the first spend) reaches the ceiling at 15:00.
            var seq: UInt64 = 0
            for h in Int64(0)..<17 {
                seq += 1
                try await spend(store, cluster: "prod-a", namespace: "payments", dollars: 5, at: monday + h * hour, sequence: seq)
                seq += 1
                try await spend(store, cluster: "prod-a", namespace: "web", dollars: 500, at: monday + h * hour, sequence: seq)
                clock.set(monday + (h + 1) * hour)
                try await engine.evaluate()
            }
            let crossings = try await store.auditEntries(matching: AuditQuery(action: "policy.threshold")).map { $0.details["threshold"]?.stringValue ?? "" }
            #expect(crossings == ["50% actual", "100% forecast", "80% actual"])
            let status = try #require(try await store.policyStates().first.flatMap { try JSONDecoder().decode(PolicyState.self, from: Data($0.stateJSON.utf8)) })
            #expect(status.spent == Money(nanoUSD: 85 * dollar))
            #expect(status.condition == .forecastBreach)

            // Restart: a new store connection and a new engine find nothing new to fire.
            try await store.close()
            store = try await SQLiteStore.open(path: path, logger: quietLogger)
            engine = PolicyEngine(store: store, enforcement: EnforcementBroadcaster(), alerter: nil, now: clock.read, logger: quietLogger)
            let before = try await store.auditSize()
            try await engine.evaluate()
            #expect(try await store.auditSize() == before)

            // Past $100: breached, enforced (humanArm false), 100 % fires once.
            seq += 1
            try await spend(store, cluster: "prod-a", namespace: "payments", dollars: 20, at: monday + 17 * hour, sequence: seq)
            clock.set(monday + 17 * hour + 30 * 60_000)
            try await engine.evaluate()
            #expect(engine.enforcement.current(cluster: "prod-a").rules.map(\.policy) == ["prod-daily"])
            // Next day: thresholds reset (the forecast one fires again at once: yesterday's rate
            // over a whole day), enforcement lifted.
            clock.set(monday + 24 * hour + 60_000)
            try await engine.evaluate()
            #expect(engine.enforcement.current(cluster: "prod-a").rules.isEmpty)
            let log = try await actions(store)
            #expect(log.filter { $0 == "policy.threshold" }.count == 5)
            #expect(Array(log.suffix(4)) == ["policy.period", "policy.threshold", "policy.condition", "enforcement.stop"])
            let stop = try #require(try await store.auditEntries(matching: AuditQuery(action: "enforcement.stop")).first)
            #expect(stop.details["reason"]?.stringValue == "period start")
            try await store.close()
        }
    }

    @Test("an enforced prod policy reaches a prod cluster registered afterwards and not a staging one")
    func laterClustersGetTheSet() async throws {
        try await withTemporaryStore { path in
            let clock = TestClock(monday + 12 * hour)
            let store = try await SQLiteStore.open(path: path, logger: quietLogger)
            try await store.createCluster(ClusterRecord(name: "prod-a", cloud: .aws, region: "us-east-1", labels: ["env": "prod"], createdAtMillis: 0), certificate: certificate("01", "prod-a"), audit: [])
            try await put(store, dailyProdCap)
            try await spend(store, cluster: "prod-a", namespace: "payments", dollars: 150, at: monday + 11 * hour, sequence: 1)
            let engine = PolicyEngine(store: store, enforcement: EnforcementBroadcaster(), alerter: nil, now: clock.read, logger: quietLogger)
            try await engine.evaluate()
            #expect(engine.enforcement.current(cluster: "prod-a").rules.count == 1)

            try await store.createCluster(ClusterRecord(name: "prod-b", cloud: .aws, region: "us-east-1", labels: ["env": "prod"], createdAtMillis: 1), certificate: certificate("02", "prod-b"), audit: [])
            try await store.createCluster(ClusterRecord(name: "staging", cloud: .aws, region: "us-east-1", labels: ["env": "staging"], createdAtMillis: 1), certificate: certificate("03", "staging"), audit: [])
            let (_, sets) = engine.enforcement.subscribe(cluster: "prod-b")
            try await engine.evaluate()
            let rule = try #require(engine.enforcement.current(cluster: "prod-b").rules.first)
            #expect(rule.policy == "prod-daily")
            #expect(rule.message.contains("prod-daily") && rule.message.contains("$150.00") && rule.message.contains("$100/day"))
            #expect(engine.enforcement.current(cluster: "staging").rules.isEmpty)
            var iterator = sets.makeAsyncIterator()
            #expect(await iterator.next()?.rules.map(\.policy) == ["prod-daily"])
            try await store.close()
        }
    }
}
