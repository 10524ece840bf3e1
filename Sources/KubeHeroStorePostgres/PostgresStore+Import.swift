import KubeHeroStore
import NIOCore
import PostgresNIO

extension PostgresStore: StoreImporting {
    /// One multi-row insert of the page, generated ids as given (`OVERRIDING SYSTEM VALUE`);
    /// partitions for the rows' times are made first.
    public func importRows(_ table: StoreTable, _ rows: [[StoreCell]]) async throws {
        if rows.isEmpty { return }
        if let partitioned = PartitionedTable.all.first(where: { $0.name == table.name }),
           let startColumn = table.columns.firstIndex(where: { $0.name == "start" }) {
            var spans: [(PartitionedTable, Int64)] = []
            var seen = Set<Int64>()
            for row in rows {
                guard case .integer(let t) = row[startColumn] else { continue }
                let start = partitioned.spanStart(t)
                if seen.insert(start).inserted { spans.append((partitioned, start)) }
            }
            try await ensurePartitions(spans)
        }
        var bindings = PostgresBindings()
        var selects: [String] = []
        for (i, column) in table.columns.enumerated() {
            let cells = rows.map { $0[i] }
            let what = "\(table.name).\(column.name)"
            switch column.kind {
            case .integer:
                bindings.append(try cells.map { try Self.integer($0, what) })
                selects.append("c\(i)")
            case .optionalInteger:
                // Arrays of PostgresNIO hold no NULLs: Int64.min stands for one.
                bindings.append(try cells.map { $0 == .null ? Int64.min : try Self.integer($0, what) })
                selects.append("nullif(c\(i), \(Int64.min))")
            case .text, .json:
                bindings.append(try cells.map { cell -> String in
                    guard case .text(let s) = cell else { throw StoreError(.backend, "copying \(what): expected text, got \(cell)") }
                    return s
                })
                selects.append(column.kind == .json ? "c\(i)::jsonb" : "c\(i)")
            case .blob:
                bindings.append(try cells.map { cell -> ByteBuffer in
                    guard case .blob(let b) = cell else { throw StoreError(.backend, "copying \(what): expected bytes, got \(cell)") }
                    return ByteBuffer(bytes: b)
                })
                selects.append("c\(i)")
            }
        }
        let types = table.columns.map { column -> String in
            switch column.kind {
            case .integer, .optionalInteger: "bigint[]"
            case .text, .json: "text[]"
            case .blob: "bytea[]"
            }
        }
        let sql = """
            INSERT INTO \(table.name) (\(table.columns.map(\.postgresName).joined(separator: ", ")))\(table.identity == nil ? "" : " OVERRIDING SYSTEM VALUE")
            SELECT \(selects.joined(separator: ", "))
            FROM unnest(\(types.enumerated().map { "$\($0.offset + 1)::\($0.element)" }.joined(separator: ", "))) AS t (\(table.columns.indices.map { "c\($0)" }.joined(separator: ", ")))
            """
        _ = try await write("copying \(rows.count) rows into \(table.name)") { db in
            try await db.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        }
    }

    public func finishImport() async throws {
        for table in StoreTables.all {
            guard let identity = table.identity else { continue }
            _ = try await read("moving the id counter of \(table.name)", PostgresQuery(unsafeSQL: """
                SELECT setval(pg_get_serial_sequence('\(table.name)', '\(identity)'), coalesce(max(\(identity)), 0) + 1, false) FROM \(table.name)
                """))
        }
    }

    public func countRows(_ table: StoreTable) async throws -> Int {
        Int(try await read("counting \(table.name)", PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table.name)")).first?.decode(Int64.self) ?? 0)
    }

    private static func integer(_ cell: StoreCell, _ what: String) throws -> Int64 {
        guard case .integer(let v) = cell else { throw StoreError(.backend, "copying \(what): expected an integer, got \(cell)") }
        return v
    }
}
