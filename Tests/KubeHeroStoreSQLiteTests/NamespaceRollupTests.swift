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
            try await RollupWorld.ingest(into: store, seed: 12)
            let expected = try await RollupWorld.answers(store)
            try await store.close()
            // The database as it was before the migration that adds the rollup.
            try withRawDatabase(path) { db in
                try db.exec("DROP TABLE \(NamespaceRollup.table); DROP TABLE \(NamespaceRollup.dayTable); DELETE FROM schema_migrations WHERE version = 6")
            }
            try await RollupWorld.closing(try await SQLiteStore.open(path: path)) { reopened in
                try await RollupWorld.expectRollupAgrees(reopened, answering: expected, "after the migration's back-fill")
            }
        }
    }
}
