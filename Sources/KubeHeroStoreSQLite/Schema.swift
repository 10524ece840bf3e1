import KubeHeroStore
import Logging

/// The database schema as an ordered list of migrations; version N is `migrations[N - 1]`.
///
/// A released migration is never edited: the schema changes by appending one. Each runs in
/// its own transaction together with its `schema_migrations` row, so a crash mid-upgrade
/// leaves the database at the previous version.
enum Schema {
    struct Migration {
        var version: Int
        var summary: String
        var sql: String
    }

    /// `PRAGMA application_id` of a KubeHero database ("KHB0"), so that another program's
    /// SQLite file is refused instead of being migrated.
    static let applicationID: Int32 = 0x4B48_4230

    static var latestVersion: Int { migrations.count }

    static let migrations: [Migration] = [
        Migration(version: 1, summary: "clusters, certificates, tokens, containers, usage, batches, gaps", sql: """
            PRAGMA application_id = \(applicationID);

            CREATE TABLE clusters (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                cloud TEXT NOT NULL,
                region TEXT NOT NULL,
                labels_json TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                removed_at INTEGER
            ) STRICT;
            -- One active cluster per name; a removed cluster's name can be registered again.
            CREATE UNIQUE INDEX clusters_active_name ON clusters (name) WHERE removed_at IS NULL;

            CREATE TABLE certificates (
                serial TEXT PRIMARY KEY,
                cluster_id INTEGER NOT NULL REFERENCES clusters (id),
                not_before INTEGER NOT NULL,
                not_after INTEGER NOT NULL,
                pem TEXT NOT NULL,
                revoked_at INTEGER
            ) STRICT;
            CREATE INDEX certificates_cluster ON certificates (cluster_id, revoked_at);

            CREATE TABLE tokens (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                secret_hash TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER
            ) STRICT;

            CREATE TABLE containers (
                id INTEGER PRIMARY KEY,
                cluster TEXT NOT NULL,
                node TEXT NOT NULL,
                namespace TEXT NOT NULL,
                pod TEXT NOT NULL,
                container TEXT NOT NULL,
                labels_json TEXT NOT NULL,
                UNIQUE (cluster, node, namespace, pod, container)
            ) STRICT;
            CREATE INDEX containers_namespace ON containers (namespace, pod);

            -- Usage is exact: integers only, and STRICT makes a sum that leaves Int64 (which
            -- SQLite would otherwise turn into a REAL) an error instead of a silent rounding.
            \(usageTable("usage_minute"))
            \(usageTable("usage_hour"))

            -- Every committed batch, so that a re-sent one is recognised.
            CREATE TABLE batches (
                cluster TEXT NOT NULL,
                agent_instance TEXT NOT NULL,
                seq INTEGER NOT NULL,
                node TEXT NOT NULL,
                received_at INTEGER NOT NULL,
                window_start INTEGER NOT NULL,
                window_end INTEGER NOT NULL,
                samples INTEGER NOT NULL,
                PRIMARY KEY (cluster, agent_instance, seq)
            ) STRICT, WITHOUT ROWID;

            -- Per-cluster summary of `batches`, kept in the ingest transaction, so that
            -- lastBatchTimes and batchCount read one row per cluster instead of every batch.
            CREATE TABLE cluster_activity (
                cluster TEXT PRIMARY KEY,
                last_batch_at INTEGER NOT NULL,
                batch_count INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE gaps (
                id INTEGER PRIMARY KEY,
                cluster TEXT NOT NULL,
                node TEXT NOT NULL,
                agent_instance TEXT NOT NULL,
                seq INTEGER NOT NULL,
                reported_at INTEGER NOT NULL,
                dropped_ticks INTEGER NOT NULL,
                dropped_batches INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX gaps_cluster_reported ON gaps (cluster, reported_at);
            """),
        Migration(version: 2, summary: "index batch keys by window end, for pruning", sql: """
            CREATE INDEX batches_by_window_end ON batches (window_end);
            """),
        Migration(version: 3, summary: "pricing engine: GPU and storage columns, price versions, node-minutes", sql: """
            \(["usage_minute", "usage_hour"].map { table in
                ["gpu_req_ms", "storage_req_bs", "cost_gpu", "cost_storage"]
                    .map { "ALTER TABLE \(table) ADD COLUMN \($0) INTEGER NOT NULL DEFAULT 0;" }.joined(separator: "\n")
            }.joined(separator: "\n"))

            -- Every catalog import; never changed, so that a cost can be explained by its version.
            CREATE TABLE price_versions (
                id INTEGER PRIMARY KEY,
                effective_at INTEGER NOT NULL,
                imported_at INTEGER NOT NULL,
                origin TEXT NOT NULL,
                catalog_json TEXT NOT NULL,
                changes TEXT NOT NULL
            ) STRICT;
            CREATE INDEX price_versions_effective ON price_versions (effective_at, id);

            -- What each node was and how long it was observed per minute: the inputs of its
            -- price and idle cost, kept (with the minute rows) so that a window can be re-priced.
            CREATE TABLE node_minutes (
                start INTEGER NOT NULL,
                cluster TEXT NOT NULL,
                node TEXT NOT NULL,
                instance_type TEXT NOT NULL,
                region TEXT NOT NULL,
                zone TEXT NOT NULL,
                capacity_type TEXT NOT NULL,
                cpu_millicores INTEGER NOT NULL,
                memory_bytes INTEGER NOT NULL,
                gpus INTEGER NOT NULL,
                price_override TEXT NOT NULL,
                observed_ms INTEGER NOT NULL,
                price_version INTEGER NOT NULL,
                PRIMARY KEY (start, cluster, node)
            ) STRICT, WITHOUT ROWID;
            """),
        Migration(version: 4, summary: "audit log: append-only entries and signed checkpoints", sql: """
            CREATE TABLE audit_entries (
                idx INTEGER PRIMARY KEY,
                at INTEGER NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                entry BLOB NOT NULL,
                leaf BLOB NOT NULL
            ) STRICT;
            CREATE INDEX audit_entries_by_action ON audit_entries (action, idx);
            CREATE INDEX audit_entries_by_actor ON audit_entries (actor, idx);
            CREATE TRIGGER audit_entries_append_only_update BEFORE UPDATE ON audit_entries
                BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
            CREATE TRIGGER audit_entries_append_only_delete BEFORE DELETE ON audit_entries
                BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
            CREATE TABLE audit_checkpoints (
                size INTEGER PRIMARY KEY,
                note TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) STRICT;
            """),
        Migration(version: 5, summary: "BudgetPolicy documents, evaluation state, enforcement acknowledgements", sql: """
            CREATE TABLE policies (
                name TEXT PRIMARY KEY,
                document TEXT NOT NULL,
                armed INTEGER NOT NULL,
                revision INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE TABLE policy_states (
                name TEXT PRIMARY KEY REFERENCES policies (name) ON DELETE CASCADE,
                state TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            -- The newest acknowledgement of each cluster's edge operator.
            CREATE TABLE enforcement_acks (
                cluster TEXT PRIMARY KEY,
                directive TEXT NOT NULL,
                policies_json TEXT NOT NULL,
                acked_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            """),
        // What a cost query by namespace or cluster reads instead of every container's hour rows
        // (NamespaceRollup); back-filled here from the hour rows the database already holds.
        Migration(version: 6, summary: "per-(cluster, namespace) rollups of the hour rows, by hour and by day", sql: """
            \([NamespaceRollup.table, NamespaceRollup.dayTable].map {
                NamespaceRollup.createSQL(
                    $0, integer: "INTEGER", text: "TEXT", options: "STRICT, WITHOUT ROWID", columns: UsageFields.namesBeforeCrossRegion
                ) + ";"
            }.joined(separator: "\n"))
            \(NamespaceRollup.fillSQL(integer: "", columns: UsageFields.namesBeforeCrossRegion).map { $0 + ";" }.joined(separator: "\n"))
            """),
        // Rows from before it measured nothing cross-region: 0 bytes and $0 are exact for them.
        Migration(version: 7, summary: "cross-region network class: bytes and cost columns in every usage table", sql: """
            \(["usage_minute", "usage_hour", NamespaceRollup.table, NamespaceRollup.dayTable].map { table in
                ["net_cross_region", "cost_net_cross_region"]
                    .map { "ALTER TABLE \(table) ADD COLUMN \($0) INTEGER NOT NULL DEFAULT 0;" }.joined(separator: "\n")
            }.joined(separator: "\n"))
            """),
    ]

    /// One usage table of migration 1 (minute and hour rows have the same shape). Frozen with it.
    private static func usageTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            container_id INTEGER NOT NULL REFERENCES containers (id),
            start INTEGER NOT NULL,
            cpu_ns INTEGER NOT NULL,
            cpu_req_ns INTEGER NOT NULL,
            mem_bs INTEGER NOT NULL,
            mem_req_bs INTEGER NOT NULL,
            net_same_node INTEGER NOT NULL,
            net_same_zone INTEGER NOT NULL,
            net_cross_zone INTEGER NOT NULL,
            net_internet INTEGER NOT NULL,
            sampled_ms INTEGER NOT NULL,
            cost_cpu INTEGER NOT NULL,
            cost_ram INTEGER NOT NULL,
            cost_net_same_node INTEGER NOT NULL,
            cost_net_same_zone INTEGER NOT NULL,
            cost_net_cross_zone INTEGER NOT NULL,
            cost_net_internet INTEGER NOT NULL,
            -- Time first: every query and retention reads a time range, which is then one
            -- sequential stretch of the table, and new rows are appended near its end.
            PRIMARY KEY (start, container_id)
        ) STRICT, WITHOUT ROWID;
        """
    }

    /// Brings the database at `db` to `latestVersion`, or refuses it if it is not ours or newer
    /// than this program. Runs on the writer connection, before anything else uses the file.
    static func migrate(_ db: SQLiteConnection, logger: Logger) throws {
        let path = db.path
        let appID = try db.queryFirst("PRAGMA application_id") { Int32(truncatingIfNeeded: $0.int64(at: 0)) } ?? 0
        if appID != 0 && appID != applicationID {
            throw StoreError(.schema, "\(path) is an SQLite database of another program (application_id \(appID)), not a KubeHero database")
        }
        let tracked = try db.queryFirst("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'") { _ in true } ?? false
        if !tracked {
            let tables = try db.queryFirst("SELECT count(*) FROM sqlite_schema WHERE type = 'table'") { $0.int64(at: 0) } ?? 0
            if tables > 0 {
                throw StoreError(.schema, "\(path) has tables but no schema_migrations table: it is not a KubeHero database")
            }
            try db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT")
        }

        for migration in migrations {
            try db.transaction(.immediate) {
                // Read under the write lock: another process may have migrated meanwhile.
                let current = try db.queryFirst("SELECT coalesce(max(version), 0) FROM schema_migrations") { Int($0.int64(at: 0)) } ?? 0
                if current > latestVersion {
                    throw StoreError(
                        .schema,
                        "the database at \(path) has schema version \(current), newer than the latest this program knows (\(latestVersion)); run a newer kubehero-hub or restore a matching backup"
                    )
                }
                guard current < migration.version else { return }
                try db.exec(migration.sql)
                try db.run(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
                    [.integer(Int64(migration.version))]
                )
                logger.info(
                    "applied database migration",
                    metadata: ["path": "\(path)", "version": "\(migration.version)", "summary": "\(migration.summary)"]
                )
            }
        }
    }
}
