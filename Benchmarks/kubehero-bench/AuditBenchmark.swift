import ArgumentParser
import Foundation
import KubeHeroAudit
import KubeHeroHub
import KubeHeroStore
import KubeHeroStoreSQLite
import Logging
import ServiceLifecycle

/// `kubehero-bench audit`: appending to the audit log with checkpoints signed alongside, and
/// verifying it offline. Runs in-process on a real SQLite file (synchronous=FULL, WAL).
struct AuditBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Audit log: entries/s appended (group commit, with checkpoints signed every 500 ms) and entries/s verified offline."
    )

    @Option(help: "Entries appended through the group committer.")
    var entries = 50_000

    @Option(help: "Concurrent writers (each waits for its entry to be durable before the next).")
    var writers = 64

    @Option(help: "Entries appended one transaction each, for comparison.")
    var single = 1000

    func run() async throws {
        var logger = Logger(label: "kubehero-bench")
        logger.logLevel = .warning
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-bench-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore.open(path: dir + "/hub.sqlite", logger: logger)
        let keys = try AuditKeys.create(in: dir)
        let log = AuditLog(store: store, keys: keys, logger: logger)
        let appender = AuditAppender(store: store, logger: logger)
        let checkpoints = CheckpointService(log: log, interval: .milliseconds(500), now: Self.now, logger: logger)

        func draft(_ n: Int) -> AuditDraft {
            AuditDraft(
                timeMillis: Self.now(), actor: .cluster("prod-\(n % 50)"), action: .agentGap, subject: "cluster/prod-\(n % 50)/node/ip-10-0-\(n % 200)",
                details: [
                    "agentInstance": .string(UUID().uuidString), "sequence": .int(Int64(n)), "droppedTicks": .int(Int64(n % 60)),
                    "droppedBatches": .int(0), "windowStart": "2026-11-22T10:00:00Z", "windowEnd": "2026-11-22T10:01:00Z",
                ]
            )
        }

        print("audit benchmark: \(entries) entries from \(writers) concurrent writers, checkpoints every 500 ms; SQLite at \(dir)")
        let group = ServiceGroup(configuration: .init(services: [.init(service: appender), .init(service: checkpoints)], logger: logger))
        let (grouped, groupedSeconds) = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { w in
                let perWriter = entries / writers
                for k in 0..<writers {
                    w.addTask {
                        for i in 0..<perWriter { _ = try await appender.commit(draft(k * perWriter + i)) }
                    }
                }
                try await w.waitForAll()
            }
            let elapsed = Self.seconds(ContinuousClock.now - start)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return (entries / writers * writers, elapsed)
        }
        let checkpointCount = try await store.checkpoints(fromSize: 0, limit: 100_000).count
        print(String(format: "group commit:    %7d entries in %.2f s = %8.0f entries/s (%d checkpoints signed meanwhile)", grouped, groupedSeconds, Double(grouped) / groupedSeconds, checkpointCount))

        let singleStart = ContinuousClock.now
        for i in 0..<single { _ = try await store.appendAudit([draft(i)]) }
        let singleSeconds = Self.seconds(ContinuousClock.now - singleStart)
        print(String(format: "one txn each:   %7d entries in %.2f s = %8.0f entries/s (group commit is %.0fx)", single, singleSeconds, Double(single) / singleSeconds, (Double(grouped) / groupedSeconds) / (Double(single) / singleSeconds)))
        try await log.signCheckpointIfNeeded(nowMillis: Self.now())

        // Offline verification: export lines as `kubehero audit export` writes them, then verify.
        var lines: [[UInt8]] = []
        var from: UInt64 = 0
        while true {
            let page = try await store.auditEntries(matching: AuditQuery(fromIndex: from, limit: 10_000))
            lines += page.map { AuditExport.line(leafHash: $0.leafHash, entryBytes: $0.bytes) }
            guard let last = page.last, page.count == 10_000 else { break }
            from = last.index + 1
        }
        let notes = try await store.checkpoints(fromSize: 0, limit: 100_000).map(\.note)
        try await store.close()
        let verifyStart = ContinuousClock.now
        let inputs = lines.map(AuditVerifier.Input.init(exportLine:))
        let result = AuditVerifier(keys: [keys.signer.verifierKey]).verify(entries: inputs, checkpointNotes: notes)
        let verifySeconds = Self.seconds(ContinuousClock.now - verifyStart)
        guard case .success(let v) = result else { throw ValidationError("verification failed: \(result)") }
        print(String(format: "offline verify: %7d entries, %d checkpoints in %.2f s = %8.0f entries/s", v.entries, v.checkpoints, verifySeconds, Double(v.entries) / verifySeconds))
        let bytes = lines.reduce(0) { $0 + $1.count + 1 }
        print("export size: \(bytes / Int(v.entries)) bytes per entry line")
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
