import KubeHeroStore

extension SQLiteStore: StoreExporting {
    /// Reads a page of `table` on the reader connection, keyset-paged by `table.key` (SQLite
    /// compares row values), so that each page costs the same however far in it is.
    public func exportRows(_ table: StoreTable, after: [StoreCell]?, limit: Int) async throws -> [[StoreCell]] {
        let columns = table.columns.map(\.name).joined(separator: ", ")
        let key = "(" + table.key.joined(separator: ", ") + ")"
        var bindings: [SQLiteValue] = []
        var condition = ""
        if let after {
            bindings = after.map(Self.value)
            condition = " WHERE \(key) > (\((1...after.count).map { "?\($0)" }.joined(separator: ", ")))"
        }
        bindings.append(.integer(Int64(max(1, limit))))
        let sql = "SELECT \(columns) FROM \(table.name)\(condition) ORDER BY \(table.key.joined(separator: ", ")) LIMIT ?\(bindings.count)"
        let kinds = table.columns.map(\.kind)
        return try await read { [bindings] db in
            try db.query(sql, bindings) { row in
                kinds.enumerated().map { i, kind in
                    let c = Int32(i)
                    if row.isNull(at: c) { return .null }
                    switch kind {
                    case .integer, .optionalInteger: return .integer(row.int64(at: c))
                    case .text, .json: return .text(row.text(at: c))
                    case .blob: return .blob(row.blob(at: c))
                    }
                }
            }
        }
    }

    public func countRows(_ table: StoreTable) async throws -> Int {
        try await read { db in Int(try db.queryFirst("SELECT count(*) FROM \(table.name)") { $0.int64(at: 0) } ?? 0) }
    }

    private static func value(_ cell: StoreCell) -> SQLiteValue {
        switch cell {
        case .null: .null
        case .integer(let v): .integer(v)
        case .text(let v): .text(v)
        case .blob(let v): .blob(v)
        }
    }
}
