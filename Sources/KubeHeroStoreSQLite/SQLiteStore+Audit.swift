import KubeHeroAudit
import KubeHeroStore

extension SQLiteStore {
    // MARK: Audit log

    public func appendAudit(_ drafts: [AuditDraft]) async throws -> [AuditEntry] {
        if drafts.isEmpty { return [] }
        return try await write { db in try Self.appendAudit(db, drafts) }
    }

    public func auditSize() async throws -> UInt64 {
        try await read { db in
            UInt64(try db.queryFirst("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries") { $0.int64(at: 0) } ?? 0)
        }
    }

    public func auditEntries(matching query: AuditQuery) async throws -> [AuditEntry] {
        var conditions = ["idx >= ?1"]
        var bindings: [SQLiteValue] = [.integer(Int64(clamping: query.fromIndex)), .integer(Int64(max(0, min(query.limit, 100_000))))]
        if let action = query.action {
            bindings.append(.text(action))
            conditions.append("action = ?\(bindings.count)")
        }
        if let actor = query.actor {
            bindings.append(.text(actor))
            conditions.append("actor = ?\(bindings.count)")
        }
        if let since = query.sinceMillis {
            bindings.append(.integer(since))
            conditions.append("at >= ?\(bindings.count)")
        }
        if let until = query.untilMillis {
            bindings.append(.integer(until))
            conditions.append("at < ?\(bindings.count)")
        }
        if let before = query.beforeIndex {
            bindings.append(.integer(Int64(clamping: before)))
            conditions.append("idx < ?\(bindings.count)")
        }
        let sql = "SELECT idx, entry FROM audit_entries WHERE \(conditions.joined(separator: " AND ")) ORDER BY idx\(query.newestFirst ? " DESC" : "") LIMIT ?2"
        let rows = try await read { [bindings] db in
            try db.query(sql, bindings) { ($0.int64(at: 0), $0.blob(at: 1)) }
        }
        return try rows.map { index, bytes in
            do {
                return try AuditEntry(bytes: bytes)
            } catch {
                throw StoreError(.backend, "audit entry \(index) in \(path) cannot be read: \(error)")
            }
        }
    }

    public func auditLeafHashes(from: UInt64, limit: Int) async throws -> [TreeHash] {
        let rows = try await read { db in
            try db.query(
                "SELECT idx, leaf FROM audit_entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
                [.integer(Int64(clamping: from)), .integer(Int64(max(0, limit)))]
            ) { ($0.int64(at: 0), $0.blob(at: 1)) }
        }
        var out: [TreeHash] = []
        out.reserveCapacity(rows.count)
        for (n, (index, leaf)) in rows.enumerated() {
            guard index == Int64(clamping: from) + Int64(n), let hash = TreeHash(bytes: leaf) else {
                throw StoreError(.backend, "audit entry \(Int64(clamping: from) + Int64(n)) in \(path) is missing or has a malformed leaf hash")
            }
            out.append(hash)
        }
        return out
    }

    public func addCheckpoint(_ checkpoint: CheckpointRecord) async throws {
        try await write { db in
            if try db.queryFirst("SELECT 1 FROM audit_checkpoints WHERE size = ?1", [.integer(Int64(clamping: checkpoint.size))], { _ in true }) != nil {
                throw StoreError(.conflict, "a checkpoint of size \(checkpoint.size) already exists")
            }
            try db.run(
                "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
                [.integer(Int64(clamping: checkpoint.size)), .text(checkpoint.note), .integer(checkpoint.createdAtMillis)]
            )
        }
    }

    public func checkpoints(fromSize: UInt64, limit: Int) async throws -> [CheckpointRecord] {
        try await read { db in
            try db.query(
                "SELECT size, note, created_at FROM audit_checkpoints WHERE size >= ?1 ORDER BY size LIMIT ?2",
                [.integer(Int64(clamping: fromSize)), .integer(Int64(max(0, limit)))]
            ) { CheckpointRecord(size: UInt64($0.int64(at: 0)), note: $0.text(at: 1), createdAtMillis: $0.int64(at: 2)) }
        }
    }

    public func latestCheckpoint() async throws -> CheckpointRecord? {
        try await read { db in
            try db.queryFirst("SELECT size, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1") {
                CheckpointRecord(size: UInt64($0.int64(at: 0)), note: $0.text(at: 1), createdAtMillis: $0.int64(at: 2))
            }
        }
    }

    /// Appends inside the caller's transaction: the entries commit or roll back with it.
    static func appendAudit(_ db: SQLiteConnection, _ drafts: [AuditDraft]) throws -> [AuditEntry] {
        if drafts.isEmpty { return [] }
        var next = UInt64(try db.queryFirst("SELECT coalesce(max(idx) + 1, 0) FROM audit_entries") { $0.int64(at: 0) } ?? 0)
        let insert = try db.statement("INSERT INTO audit_entries (idx, at, actor, action, entry, leaf) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        var entries: [AuditEntry] = []
        entries.reserveCapacity(drafts.count)
        for draft in drafts {
            let entry = draft.entry(index: next)
            try insert.bind([
                .integer(Int64(next)), .integer(draft.timeMillis), .text(draft.actor.description), .text(draft.action.rawValue),
                .blob(entry.bytes), .blob(entry.leafHash.bytes),
            ])
            try insert.execute()
            entries.append(entry)
            next += 1
        }
        return entries
    }
}
