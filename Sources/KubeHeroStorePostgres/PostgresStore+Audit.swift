import KubeHeroAudit
import KubeHeroStore
import Logging
import NIOCore
import PostgresNIO

extension PostgresStore {
    // MARK: Audit log

    public func appendAudit(_ drafts: [AuditDraft]) async throws -> [AuditEntry] {
        if drafts.isEmpty { return [] }
        return try await write("appending to the audit log") { db in try await Self.appendAudit(db, drafts, logger: logger) }
    }

    public func auditSize() async throws -> UInt64 {
        let size = try await read("reading the audit log's size", "SELECT coalesce(max(idx) + 1, 0) FROM audit_entries").first?.decode(Int64.self) ?? 0
        return UInt64(size)
    }

    public func auditEntries(matching query: AuditQuery) async throws -> [AuditEntry] {
        var bindings = PostgresBindings()
        bindings.append(Int64(clamping: query.fromIndex))
        bindings.append(Int64(max(0, min(query.limit, 100_000))))
        var conditions = ["idx >= $1"]
        func add(_ column: String, _ op: String, _ value: some PostgresDynamicTypeEncodable) {
            bindings.append(value)
            conditions.append("\(column) \(op) $\(bindings.count)")
        }
        if let action = query.action { add("action", "=", action) }
        if let actor = query.actor { add("actor", "=", actor) }
        if let since = query.sinceMillis { add("at", ">=", since) }
        if let until = query.untilMillis { add("at", "<", until) }
        if let before = query.beforeIndex { add("idx", "<", Int64(clamping: before)) }
        let sql = "SELECT idx, entry FROM audit_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx\(query.newestFirst ? " DESC" : "") LIMIT $2"
        let rows = try await read("reading audit entries", PostgresQuery(unsafeSQL: sql, binds: bindings))
        return try rows.map { row in
            let (index, bytes) = try row.decode((Int64, ByteBuffer).self)
            do {
                return try AuditEntry(bytes: Array(bytes.readableBytesView))
            } catch {
                throw StoreError(.backend, "audit entry \(index) in \(location) cannot be read: \(error)")
            }
        }
    }

    public func auditLeafHashes(from: UInt64, limit: Int) async throws -> [TreeHash] {
        let first = Int64(clamping: from)
        let rows = try await read(
            "reading audit leaf hashes", "SELECT idx, leaf FROM audit_entries WHERE idx >= \(first) ORDER BY idx LIMIT \(Int64(max(0, limit)))"
        )
        var out: [TreeHash] = []
        out.reserveCapacity(rows.count)
        for (n, row) in rows.enumerated() {
            let (index, leaf) = try row.decode((Int64, ByteBuffer).self)
            guard index == first + Int64(n), let hash = TreeHash(bytes: Array(leaf.readableBytesView)) else {
                throw StoreError(.backend, "audit entry \(first + Int64(n)) in \(location) is missing or has a malformed leaf hash")
            }
            out.append(hash)
        }
        return out
    }

    public func addCheckpoint(_ checkpoint: CheckpointRecord) async throws {
        let size = Int64(clamping: checkpoint.size)
        let inserted = try await write("storing an audit checkpoint") { db in
            try await db.query(
                """
                INSERT INTO audit_checkpoints (size, note, created_at) VALUES (\(size), \(checkpoint.note), \(checkpoint.createdAtMillis))
                ON CONFLICT (size) DO NOTHING RETURNING 1
                """,
                logger: logger
            ).collect()
        }
        if inserted.isEmpty { throw StoreError(.conflict, "a checkpoint of size \(checkpoint.size) already exists") }
    }

    public func checkpoints(fromSize: UInt64, limit: Int) async throws -> [CheckpointRecord] {
        try await read(
            "reading audit checkpoints",
            "SELECT size, note, created_at FROM audit_checkpoints WHERE size >= \(Int64(clamping: fromSize)) ORDER BY size LIMIT \(Int64(max(0, limit)))"
        ).map(Self.checkpointRecord)
    }

    public func latestCheckpoint() async throws -> CheckpointRecord? {
        try await read("reading the latest audit checkpoint", "SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            .first.map(Self.checkpointRecord)
    }

    private static func checkpointRecord(_ row: PostgresRow) throws -> CheckpointRecord {
        let (size, note, created) = try row.decode((Int64, String, Int64).self)
        return CheckpointRecord(size: UInt64(size), note: note, createdAtMillis: created)
    }

    /// Appends inside the caller's transaction: the entries commit or roll back with it. The
    /// transaction-scoped advisory lock makes appends from every replica take turns, so each
    /// reads the size the previous one committed; the primary key refuses a reused index anyway.
    static func appendAudit(_ db: PostgresConnection, _ drafts: [AuditDraft], logger: Logger) async throws -> [AuditEntry] {
        if drafts.isEmpty { return [] }
        try await db.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.auditLockKey))", logger: logger)
        let size = try await db.query("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries", logger: logger).collect().first?.decode(Int64.self) ?? 0
        var next = UInt64(size)
        var entries: [AuditEntry] = []
        entries.reserveCapacity(drafts.count)
        var indexes: [Int64] = [], times: [Int64] = [], actors: [String] = [], actions: [String] = []
        var bytes: [ByteBuffer] = [], leaves: [ByteBuffer] = []
        for draft in drafts {
            let entry = draft.entry(index: next)
            entries.append(entry)
            indexes.append(Int64(next))
            times.append(draft.timeMillis)
            actors.append(draft.actor.description)
            actions.append(draft.action.rawValue)
            bytes.append(ByteBuffer(bytes: entry.bytes))
            leaves.append(ByteBuffer(bytes: entry.leafHash.bytes))
            next += 1
        }
        try await db.query(
            """
            INSERT INTO audit_entries (idx, at, actor, action, entry, leaf)
            SELECT * FROM unnest(\(indexes)::bigint[], \(times)::bigint[], \(actors)::text[], \(actions)::text[], \(bytes)::bytea[], \(leaves)::bytea[])
            """,
            logger: logger
        )
        return entries
    }
}
