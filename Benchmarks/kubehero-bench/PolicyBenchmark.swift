import ArgumentParser
import Foundation
import KubeHeroCore
import KubeHeroHub
import KubeHeroPolicy
import KubeHeroStore
import KubeHeroStoreSQLite
import Logging

/// `kubehero-bench policy`: one full BudgetPolicy evaluation pass (store query, evaluation,
/// states and audit entries saved, enforcement sets published) over a fleet of stored history.
/// Runs in-process on a real SQLite file with a fixed clock.
struct PolicyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "BudgetPolicy evaluation: seconds per full pass over N policies, clusters and namespaces of hourly history."
    )

    @Option(help: "Policies.") var policies = 1_000
    @Option(help: "Clusters.") var clusters = 100
    @Option(help: "Namespaces in all (spread evenly over the clusters), one container each.") var namespaces = 10_000
    @Option(help: "Days of hourly history before the evaluation instant.") var days = 8
    @Option(help: "Passes timed after the first.") var passes = 5
    @Option(help: "Keep the database at this path (loaded once, reused by later runs with the same sizes).") var database: String?

    /// 2026-11-08T12:00:00Z: a week into the month, so month, week and day periods all have history.
    static let now = Timestamp.parseRFC3339("2026-11-08T12:00:00Z")!
    static let hour: Int64 = 3_600_000

    func run() async throws {
        var logger = Logger(label: "kubehero-bench")
        logger.logLevel = .warning
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-bench-policy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reuse = database.map { FileManager.default.fileExists(atPath: $0) } ?? false
        let store = try await SQLiteStore.open(path: database ?? dir + "/hub.sqlite", logger: logger)
        if !reuse { try await load(store) }
        print("policy benchmark: \(policies) policies, \(clusters) clusters, \(max(namespaces / clusters, 1) * clusters) namespaces, \(days * 24) hours of history; SQLite at \(database ?? dir)")

        let engine = PolicyEngine(store: store, enforcement: EnforcementBroadcaster(), alerter: nil, now: { Self.now }, logger: logger)
        let first = try await engine.evaluate()
        print(String(format: "first pass (cold parse cache, every state and event new): %.3f s, %d spend groups, %d events, %d policies enforcing", first.durationSeconds, first.spendGroups, first.events, first.enforcing))
        print("  phases: " + first.phases.map { "\($0.0) \(Self.ms($0.1))" }.joined(separator: ", "))
        var times: [Double] = []
        for _ in 0..<passes {
            let pass = try await engine.evaluate()
            times.append(pass.durationSeconds)
            print("  pass: " + String(format: "%.3f s; ", pass.durationSeconds) + pass.phases.map { "\($0.0) \(Self.ms($0.1))" }.joined(separator: ", "))
        }
        times.sort()
        if !times.isEmpty {
            print(String(format: "steady passes (%d): median %.3f s, max %.3f s", times.count, times[times.count / 2], times.last!))
        }
        try await store.close()
    }

    static func ms(_ seconds: Double) -> String { "\(Int((seconds * 1000).rounded())) ms" }

    func load(_ store: SQLiteStore) async throws {
        let envs = ["prod", "staging", "dev"]
        for c in 0..<clusters {
            let labels = ["env": envs[c % 3], "region": "r\(c % 5)", "tier": c % 2 == 0 ? "gold" : "silver"]
            try await store.createCluster(
                ClusterRecord(name: "c\(c)", cloud: .aws, region: "us-east-1", labels: labels, createdAtMillis: 0),
                certificate: CertificateRecord(serialHex: String(c, radix: 16), clusterName: "c\(c)", notBeforeMillis: 0, notAfterMillis: 1 << 50, pem: "-"),
                audit: []
            )
        }
        let perCluster = max(namespaces / clusters, 1)
        let hours = Int64(days) * 24
        let loadStart = ContinuousClock.now
        var sequence: UInt64 = 0
        for h in 0..<hours {
            let start = Self.now - (hours - h) * Self.hour
            var records: [IngestRecord] = []
            for c in 0..<clusters {
                sequence += 1
                let rows = (0..<perCluster).map { n in
                    UsageRow(
                        key: ContainerKey(cluster: "c\(c)", node: "n\(n % 10)", namespace: "ns\(n)", pod: "p", container: "app"),
                        labels: ["team": "t\(n % 20)"], startMillis: start, usage: Usage(),
                        cost: Cost(cpu: Money(nanoUSD: Int64(1 + n % 7) * 50_000_000), ram: Money(nanoUSD: 20_000_000))
                    )
                }
                records.append(IngestRecord(
                    cluster: "c\(c)", agentInstanceID: "bench", sequence: sequence, node: "n", receivedAtMillis: start + Self.hour,
                    windowStartMillis: start, windowEndMillis: start + 60_000, sampleCount: rows.count, rows: rows
                ))
            }
            _ = try await store.ingest(records)
        }
        let loadSeconds = PolicyEngine.seconds(ContinuousClock.now - loadStart)

        for i in 0..<policies {
            let yaml = Self.document(i, clusters: clusters, perCluster: perCluster)
            let p = try BudgetPolicyParser.parse(yaml: yaml, source: "policy \(i)")
            try await store.putPolicy(PolicyRecord(name: p.name, documentJSON: p.canonicalJSON(), armed: i % 3 == 0, revision: 1, createdAtMillis: 0, updatedAtMillis: 0), audit: [])
        }
        print("loaded \(Int64(perCluster * clusters) * hours) hourly rows in \(String(format: "%.1f", loadSeconds)) s")
    }

    /// A mix of policy shapes: per-environment monthly ceilings naming namespaces, per-team
    /// weekly budgets across clusters, daily namespace caps, rolling 30-day budgets by
    /// expression. Ceilings are set so that some policies are over, some near, some far.
    static func document(_ i: Int, clusters: Int, perCluster: Int) -> String {
        let env = ["prod", "staging", "dev"][i % 3]
        let names = (0..<(1 + i % 5)).map { "ns\((i * 7 + $0 * 13) % perCluster)" }.joined(separator: ", ")
        let ceiling = [5, 50, 500, 5_000, 50_000][i % 5]
        let scope: String
        let period: String
        switch i % 10 {
        case 0...5:
            scope = "{ clusterSelector: { matchLabels: { env: \(env) } }, namespaceSelector: { matchNames: [\(names)] } }"
            period = "$\(ceiling)/mo"
        case 6, 7:
            scope = "{ clusterSelector: {}, podSelector: { matchLabels: { team: t\(i % 20) } } }"
            period = "$\(ceiling * 4)/wk"
        case 8:
            scope = "{ clusterSelector: { matchLabels: { env: \(env), tier: gold } }, namespaceSelector: { matchNames: [ns\(i % perCluster)] } }"
            period = "$\(max(ceiling / 10, 1))/day"
        default:
            scope = "{ clusterSelector: { matchExpressions: [ { key: env, operator: NotIn, values: [dev] }, { key: region, operator: In, values: [r\(i % 5), r\((i + 1) % 5)] } ] } }"
            period = "$\(ceiling * 10)/mo"
        }
        return """
            apiVersion: kubehero.kubehero.io/v1
            kind: BudgetPolicy
            metadata: { name: p\(i) }
            spec:
              scope: \(scope)
              ceiling: "\(period)"
              period: \(i % 10 == 9 ? "rolling" : "calendar")
              hardStop: \(i % 2 == 0)
              humanArm: true
            """
    }
}
