import KubeHeroCore
import KubeHeroStore
@testable import KubeHeroStoreSQLite
import KubeHeroStoreConformance
import Testing

/// The namespace rollup in SQLite: read by the cost queries it answers, back-filled by its
/// migration. (That it stays equal to the per-container rows is in the conformance suite.)
@Suite("SQLite namespace rollup")
struct SQLiteNamespaceRollupTests {
    @Test func costsByNamespaceOverHourRowsReadTheRollup() async throws {
        try await withTemporaryStore { store, path in
            try await RollupWorld.ingest(into: store, seed: 11)
            var query = RollupWorld.queries[1]
            let before = try await store.costs(query)
            // Moved behind the store's back: only a query that reads the rollup sees it.
            let moved = try withRawDatabase(path) { db in
                try db.run("UPDATE \(NamespaceRollup.table) SET cost_cpu = cost_cpu + 1 WHERE namespace = 'payments'")
            }
            #expect(moved > 0)
            let after = try await store.costs(query)
            let cpu = { (groups: [CostGroup]) in groups.first { $0.name == "payments" }?.cost.cpu.nanoUSD }
            #expect(cpu(after) == cpu(before).map { $0 + Int64(moved) })
            query.usesRollup = false
            #expect(try await store.costs(query) == before)
        }
    }

    @Test func theMigrationBackFillsTheRollupFromExistingHourRows() async throws {
        try await withTemporaryStore { store, path in
            try await RollupWorld.ingest(into: store, seed: 12, networkClasses: 4)
            let expected = try await RollupWorld.answers(store)
            try await store.close()
            // The database as it was before the migration that adds the rollup (6), which came
            // before the one that adds the cross-region columns (7).
            try withRawDatabase(path) { db in
                try db.exec("DROP TABLE \(NamespaceRollup.table); DROP TABLE \(NamespaceRollup.dayTable)")
                try db.exec(SQLiteCrossRegionMigrationTests.dropCrossRegion(["usage_minute", "usage_hour"]))
                try db.exec("DELETE FROM schema_migrations WHERE version >= 6")
            }
            try await RollupWorld.closing(try await SQLiteStore.open(path: path)) { reopened in
                try await RollupWorld.expectRollupAgrees(reopened, answering: expected, "after the migration's back-fill")
            }
        }
    }
}

/// Migration 7, the cross-region class: a database of version 6 with a fleet's rows keeps every
/// answer, reads 0 bytes and $0 cross-region for the old rows, and stores cross-region from then on.
@Suite("SQLite cross-region migration")
struct SQLiteCrossRegionMigrationTests {
    static let tables = ["usage_minute", "usage_hour", NamespaceRollup.table, NamespaceRollup.dayTable]

    /// The statements that take `tables` back to their shape before migration 7.
    static func dropCrossRegion(_ tables: [String]) -> String {
        let (usage, cost) = UsageFields.columns(of: .crossRegion)
        return tables.map { "ALTER TABLE \($0) DROP COLUMN \(usage); ALTER TABLE \($0) DROP COLUMN \(cost);" }.joined(separator: "\n")
    }

    @Test func aVersion6DatabaseKeepsItsRowsAndGainsTheColumns() async throws {
        try await withTemporaryStore { store, path in
            try await RollupWorld.ingest(into: store, seed: 13, networkClasses: 4)
            let expected = try await RollupWorld.answers(store)
            try await store.close()
            try withRawDatabase(path) { db in
                try db.exec(Self.dropCrossRegion(Self.tables))
                try db.exec("DELETE FROM schema_migrations WHERE version = 7")
                let columns = try db.query("SELECT name FROM pragma_table_info('usage_hour')") { $0.text(at: 0) }
                #expect(!columns.contains("net_cross_region"), "the test's database should be at version 6")
            }
            try await RollupWorld.closing(try await SQLiteStore.open(path: path)) { reopened in
                try await RollupWorld.expectRollupAgrees(reopened, answering: expected, "after the cross-region migration")
                try await CrossRegionRows.expectStoredExactly(in: reopened)
            }
            let version = try withRawDatabase(path) { db in try db.queryFirst("SELECT max(version) FROM schema_migrations") { $0.int64(at: 0) } }
            #expect(version == Int64(SQLiteStore.schemaVersion))
        }
    }
}
