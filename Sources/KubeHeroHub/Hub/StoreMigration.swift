import KubeHeroAudit
import KubeHeroStore
import KubeHeroStorePostgres
import KubeHeroStoreSQLite
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kubehero-hub migrate`: copies a hub's whole state from one store to another (SQLite to
/// PostgreSQL), table by table, then checks that every table has as many rows as its source
/// and that the copied audit log verifies against its signed checkpoints.
public enum StoreMigration {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Report: Sendable {
        /// Rows copied per table, in copy order.
        public var tables: [(name: String, rows: Int)]
        /// The copied audit log: entries, checkpoints and the size its newest checkpoint covers.
        public var audit: AuditVerification

        public var auditSummary: String {
            "audit log verified: \(audit.entries) entries, \(audit.checkpoints) checkpoints, signed up to size \(audit.verifiedSize)"
        }
    }

    /// Copies everything from `source` into `target`, which must hold no hub yet. The source
    /// must not change meanwhile (stop the hub first). `verifierKeys` are the audit log's
    /// public keys (DIR/audit-log.pub).
    public static func copy(
        from source: any StoreExporting, to target: any StoreImporting & HubStore, verifierKeys: [LogVerifierKey],
        pageSize: Int = 5_000, logger: Logger, progress: @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws -> Report {
        for table in StoreTables.all where try await target.countRows(table) > 0 {
            throw Failure(description: "the target database already holds data (table \(table.name) is not empty); migrate into an empty database")
        }
        var copied: [(name: String, rows: Int)] = []
        for table in StoreTables.all {
            var after: [StoreCell]?
            var rows = 0
            while true {
                let page = try await source.exportRows(table, after: after, limit: pageSize)
                if page.isEmpty { break }
                try await target.importRows(table, page)
                rows += page.count
                after = table.keyIndexes.map { page[page.count - 1][$0] }
                progress(table.name, rows)
                if page.count < pageSize { break }
            }
            copied.append((table.name, rows))
            logger.info("copied table", metadata: ["table": "\(table.name)", "rows": "\(rows)"])
        }
        try await target.finishImport()

        for (table, (name, rows)) in zip(StoreTables.all, copied) {
            let inSource = try await source.countRows(table)
            let inTarget = try await target.countRows(table)
            guard inSource == rows, inTarget == rows else {
                throw Failure(description: "table \(name): the source has \(inSource) rows, \(rows) were copied and the target has \(inTarget); was the source hub still running?")
            }
        }
        return Report(tables: copied, audit: try await verifyAuditLog(of: target, keys: verifierKeys))
    }

    /// Reads the whole audit log back from `store` and verifies it: entries hash and chain as
    /// recorded, and every checkpoint is signed by one of `keys` for the root of its prefix.
    public static func verifyAuditLog(of store: any HubStore, keys: [LogVerifierKey]) async throws -> AuditVerification {
        var inputs: [AuditVerifier.Input] = []
        var from: UInt64 = 0
        while true {
            let page = try await store.auditEntries(matching: AuditQuery(fromIndex: from, limit: 10_000))
            if page.isEmpty { break }
            inputs += page.map { AuditVerifier.Input(recordedLeafHash: $0.leafHash, bytes: $0.bytes) }
            from = page[page.count - 1].index + 1
        }
        var notes: [String] = []
        var fromSize: UInt64 = 0
        while true {
            let page = try await store.checkpoints(fromSize: fromSize, limit: 10_000)
            if page.isEmpty { break }
            notes += page.map(\.note)
            fromSize = page[page.count - 1].size + 1
        }
        switch AuditVerifier(keys: keys).verify(entries: inputs, checkpointNotes: notes) {
        case .success(let verification): return verification
        case .failure(let problem): throw Failure(description: "the copied audit log does not verify: \(problem)")
        }
    }
}

/// `kubehero-hub migrate --from sqlite:PATH --to postgres://...` with both stores opened here.
public enum HubStoreCopy {
    public static func run(
        sqlitePath: String, target: PostgresStoreConfiguration, verifierKeys: [LogVerifierKey], logger: Logger,
        progress: @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws -> StoreMigration.Report {
        guard FileManager.default.fileExists(atPath: sqlitePath) else {
            throw StoreMigration.Failure(description: "--from: \(sqlitePath) does not exist (a hub keeps its SQLite database at DIR/hub.sqlite)")
        }
        let source = try await SQLiteStore.open(path: sqlitePath, logger: logger)
        do {
            let destination = try await PostgresStore.open(target, logger: logger)
            do {
                let report = try await StoreMigration.copy(from: source, to: destination, verifierKeys: verifierKeys, logger: logger, progress: progress)
                try await destination.close()
                try await source.close()
                return report
            } catch {
                try? await destination.close()
                throw error
            }
        } catch {
            try? await source.close()
            throw error
        }
    }
}
