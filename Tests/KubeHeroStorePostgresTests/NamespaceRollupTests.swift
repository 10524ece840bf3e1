import KubeHeroCore
import KubeHeroStore
import KubeHeroStoreConformance
import KubeHeroStorePostgres
import KubeHeroTestSupport
import Testing

/// The namespace rollup in PostgreSQL: read by the cost queries it answers, back-filled and
/// partitioned like the hour rows by its migration. (That it stays equal to the per-container
/// rows is in the conformance suite.)
@Suite("PostgreSQL namespace rollup", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct PostgresNamespaceRollupTests {
    @Test func costsByNamespaceOverHourRowsReadTheRollup() async throws {
        try await TestPostgres.withStore { store, _, name in
            try await RollupWorld.ingest(into: store, seed: 21)
            var query = RollupWorld.queries[1]
            let before = try await store.costs(query)
            // Moved behind the store's back: only a query that reads the rollup sees it.
            let moved = try await TestPostgres.query(
                "WITH u AS (UPDATE \(NamespaceRollup.table) SET cost_cpu = cost_cpu + 1 WHERE namespace = 'payments' RETURNING 1) SELECT count(*)::text FROM u",
                in: name
            ).first.flatMap { Int64($0) } ?? 0
            #expect(moved > 0)
            let after = try await store.costs(query)
            let cpu = { (groups: [CostGroup]) in groups.first { $0.name == "payments" }?.cost.cpu.nanoUSD }
            #expect(cpu(after) == cpu(before).map { $0 + moved })
            query.usesRollup = false
            #expect(try await store.costs(query) == before)
        }
    }

    @Test func theMigrationBackFillsTheRollupInPartitionsLikeTheHourRows() async throws {
        try await TestPostgres.withDatabase { url, name in
            let store = try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)
            try await RollupWorld.ingest(into: store, seed: 22, networkClasses: 4)
            let expected = try await RollupWorld.answers(store)
            try await store.close()
            // The database as it was before the migration that adds the rollup (3), which came
            // before the one that adds the cross-region columns (4).
            try await TestPostgres.run("DROP TABLE \(NamespaceRollup.table), \(NamespaceRollup.dayTable)", in: name)
            for table in ["usage_minute", "usage_hour"] {
                try await TestPostgres.run(PostgresCrossRegionMigrationTests.dropCrossRegion(table), in: name)
            }
            try await TestPostgres.run("DELETE FROM schema_migrations WHERE version >= 3", in: name)
            try await RollupWorld.closing(try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)) { reopened in
                try await RollupWorld.expectRollupAgrees(reopened, answering: expected, "after the migration's back-fill")
            }
            func partitions(_ table: String) async throws -> [String] {
                try await TestPostgres.query("""
                    SELECT substr(c.relname, length('\(table)') + 1) || ' ' || pg_get_expr(c.relpartbound, c.oid)
                    FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = '\(table)'::regclass ORDER BY 1
                    """, in: name)
            }
            let hourPartitions = try await partitions("usage_hour")
            #expect(!hourPartitions.isEmpty)
            #expect(try await partitions(NamespaceRollup.table) == hourPartitions)
            #expect(try await partitions(NamespaceRollup.dayTable) == hourPartitions)
        }
    }
}

/// Migration 4, the cross-region class: a database of version 3 with a fleet's rows keeps every
/// answer, reads 0 bytes and $0 cross-region for the old rows (in every partition), and stores
/// cross-region from then on.
@Suite("PostgreSQL cross-region migration", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct PostgresCrossRegionMigrationTests {
    /// The statement that takes `table` (and its partitions) back to its shape before migration 4.
    static func dropCrossRegion(_ table: String) -> String {
        let (usage, cost) = UsageFields.columns(of: .crossRegion)
        return "ALTER TABLE \(table) DROP COLUMN \(usage), DROP COLUMN \(cost)"
    }

    @Test func aVersion3DatabaseKeepsItsRowsAndGainsTheColumns() async throws {
        try await TestPostgres.withDatabase { url, name in
            let store = try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)
            try await RollupWorld.ingest(into: store, seed: 23, networkClasses: 4)
            let expected = try await RollupWorld.answers(store)
            try await store.close()
            for table in ["usage_minute", "usage_hour", NamespaceRollup.table, NamespaceRollup.dayTable] {
                try await TestPostgres.run(Self.dropCrossRegion(table), in: name)
            }
            try await TestPostgres.run("DELETE FROM schema_migrations WHERE version = 4", in: name)
            try await RollupWorld.closing(try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)) { reopened in
                try await RollupWorld.expectRollupAgrees(reopened, answering: expected, "after the cross-region migration")
                try await CrossRegionRows.expectStoredExactly(in: reopened)
            }
            // Every partition has the columns, old rows with 0.
            let missing = try await TestPostgres.query("""
                SELECT c.relname FROM pg_class AS c
                WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'usage\\_%'
                  AND NOT EXISTS (SELECT 1 FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attname = 'cost_net_cross_region')
                """, in: name)
            #expect(missing.isEmpty, "tables without the column: \(missing)")
            #expect(try await TestPostgres.query("SELECT max(version)::text FROM schema_migrations", in: name) == ["\(PostgresStore.schemaVersion)"])
        }
    }
}
