import KubeHeroStore
import Logging
import PostgresNIO

/// The PostgreSQL schema as an ordered list of migrations; version N is `migrations[N - 1]`.
///
/// A released migration is never edited: the schema changes by appending one. Each runs in its
/// own transaction with its `schema_migrations` row, and all of them under a session advisory
/// lock, so that replicas starting at once migrate one after the other: the second finds the
/// work done.
enum PostgresSchema {
    struct Migration {
        var version: Int
        var summary: String
        /// One statement each: the extended query protocol runs one statement per query.
        var statements: [String]
    }

    /// `pg_advisory_lock` key of migrations ("KHB0", as the SQLite application id).
    static let migrationLockKey: Int64 = 0x4B48_4230
    /// `pg_advisory_xact_lock` key that serialises appends to the audit log across replicas.
    static let auditLockKey: Int64 = 0x4B48_4231
    /// `pg_advisory_xact_lock` key that serialises partition creation and removal.
    static let partitionLockKey: Int64 = 0x4B48_4232

    static var latestVersion: Int { migrations.count }

    static let migrations: [Migration] = [
        Migration(version: 1, summary: "clusters, certificates, tokens, partitioned usage, batches, gaps, prices, audit log, leases", statements: [
            """
                CREATE TABLE clusters (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    name text NOT NULL,
                    cloud text NOT NULL,
                    region text NOT NULL,
                    labels jsonb NOT NULL,
                    created_at bigint NOT NULL,
                    removed_at bigint
                )
                """,
            // One active cluster per name; a removed cluster's name can be registered again.
            """
                CREATE UNIQUE INDEX clusters_active_name ON clusters (name) WHERE removed_at IS NULL
                """,
            """
                CREATE TABLE certificates (
                    serial text PRIMARY KEY,
                    cluster_id bigint NOT NULL REFERENCES clusters (id),
                    not_before bigint NOT NULL,
                    not_after bigint NOT NULL,
                    pem text NOT NULL,
                    revoked_at bigint,
                    issued bigint GENERATED ALWAYS AS IDENTITY
                )
                """,
            """
                CREATE INDEX certificates_cluster ON certificates (cluster_id, revoked_at)
                """,
            """
                CREATE TABLE tokens (
                    id text PRIMARY KEY,
                    name text NOT NULL,
                    role text NOT NULL,
                    secret_hash text NOT NULL UNIQUE,
                    created_at bigint NOT NULL,
                    revoked_at bigint
                )
                """,
            """
                CREATE TABLE containers (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    cluster text NOT NULL,
                    node text NOT NULL,
                    namespace text NOT NULL,
                    pod text NOT NULL,
                    container text NOT NULL,
                    labels jsonb NOT NULL,
                    UNIQUE (cluster, node, namespace, pod, container)
                )
                """,
            """
                CREATE INDEX containers_namespace ON containers (namespace, pod)
                """,
            // Time series: native range partitions on `start` (Unix ms), made ahead of time and
            // on demand, dropped whole by retention (Partitions.swift). Time first in the key:
            // every query and retention reads a time range.
            usageTable("usage_minute"),
            usageTable("usage_hour"),
            // Every committed batch: the primary key is what makes a re-sent batch a duplicate,
            // on whichever replica it arrives.
            """
                CREATE TABLE batches (
                    cluster text NOT NULL,
                    agent_instance text NOT NULL,
                    seq bigint NOT NULL,
                    node text NOT NULL,
                    received_at bigint NOT NULL,
                    window_start bigint NOT NULL,
                    window_end bigint NOT NULL,
                    samples bigint NOT NULL,
                    PRIMARY KEY (cluster, agent_instance, seq)
                )
                """,
            """
                CREATE INDEX batches_by_window_end ON batches (window_end)
                """,
            // Per-cluster summary of `batches`, kept in the ingest transaction.
            """
                CREATE TABLE cluster_activity (
                    cluster text PRIMARY KEY,
                    last_batch_at bigint NOT NULL,
                    batch_count bigint NOT NULL
                )
                """,
            """
                CREATE TABLE gaps (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    cluster text NOT NULL,
                    node text NOT NULL,
                    agent_instance text NOT NULL,
                    seq bigint NOT NULL,
                    reported_at bigint NOT NULL,
                    dropped_ticks bigint NOT NULL,
                    dropped_batches bigint NOT NULL
                )
                """,
            """
                CREATE INDEX gaps_cluster_reported ON gaps (cluster, reported_at)
                """,
            """
                CREATE TABLE price_versions (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    effective_at bigint NOT NULL,
                    imported_at bigint NOT NULL,
                    origin text NOT NULL,
                    catalog_json text NOT NULL,
                    changes text NOT NULL
                )
                """,
            """
                CREATE INDEX price_versions_effective ON price_versions (effective_at, id)
                """,
            """
                CREATE TABLE node_minutes (
                    start bigint NOT NULL,
                    cluster text NOT NULL,
                    node text NOT NULL,
                    instance_type text NOT NULL,
                    region text NOT NULL,
                    zone text NOT NULL,
                    capacity_type text NOT NULL,
                    cpu_millicores bigint NOT NULL,
                    memory_bytes bigint NOT NULL,
                    gpus bigint NOT NULL,
                    price_override text NOT NULL,
                    observed_ms bigint NOT NULL,
                    price_version bigint NOT NULL,
                    PRIMARY KEY (start, cluster, node)
                ) PARTITION BY RANGE (start)
                """,
            """
                CREATE INDEX node_minutes_by_node ON node_minutes (cluster, node, start)
                """,
            """
                CREATE TABLE audit_entries (
                    idx bigint PRIMARY KEY CHECK (idx >= 0),
                    at bigint NOT NULL,
                    actor text NOT NULL,
                    action text NOT NULL,
                    entry bytea NOT NULL,
                    leaf bytea NOT NULL CHECK (length(leaf) = 32)
                )
                """,
            """
                CREATE INDEX audit_entries_by_action ON audit_entries (action, idx)
                """,
            """
                CREATE INDEX audit_entries_by_actor ON audit_entries (actor, idx)
                """,
            // Append-only, whoever connects: UPDATE, DELETE and TRUNCATE are refused.
            """
                CREATE FUNCTION kubehero_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'integrity_constraint_violation';
                END
                $$
                """,
            """
                CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
                    FOR EACH ROW EXECUTE FUNCTION kubehero_audit_append_only()
                """,
            """
                CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
                    FOR EACH STATEMENT EXECUTE FUNCTION kubehero_audit_append_only()
                """,
            """
                CREATE TABLE audit_checkpoints (
                    size bigint PRIMARY KEY,
                    note text NOT NULL,
                    created_at bigint NOT NULL
                )
                """,
            // Leader election: one row per lease, expiry by the database's clock.
            """
                CREATE TABLE leases (
                    name text PRIMARY KEY,
                    holder text NOT NULL,
                    expires_at timestamptz NOT NULL,
                    acquired_at timestamptz NOT NULL
                )
                """,
        ]),
        Migration(version: 2, summary: "BudgetPolicy documents, their evaluation state, edge operators' acknowledgements", statements: [
            """
                CREATE TABLE policies (
                    name text PRIMARY KEY,
                    document text NOT NULL,
                    armed bigint NOT NULL,  -- 0 or 1, as in SQLite (kubehero-hub migrate copies it as is)
                    revision bigint NOT NULL,
                    created_at bigint NOT NULL,
                    updated_at bigint NOT NULL
                )
                """,
            """
                CREATE TABLE policy_states (
                    name text PRIMARY KEY REFERENCES policies (name) ON DELETE CASCADE,
                    state text NOT NULL,
                    updated_at bigint NOT NULL
                )
                """,
            // The newest acknowledgement of each cluster's edge operator.
            """
                CREATE TABLE enforcement_acks (
                    cluster text PRIMARY KEY,
                    directive text NOT NULL,
                    policies_json text NOT NULL,  -- a JSON array of policy names, as in SQLite
                    acked_at bigint NOT NULL
                )
                """,
        ]),
        // What a cost query by namespace or cluster reads instead of every container's hour rows
        // (NamespaceRollup), partitioned like `usage_hour` (one partition per hour partition,
        // same bounds) and back-filled from the hour rows. Hubs of an older version do not keep
        // it: stop them before this one starts (docs/postgres.md, "Upgrading").
        Migration(version: 3, summary: "per-(cluster, namespace) rollups of the hour rows, by hour and by day", statements: [
            NamespaceRollup.createSQL(
                NamespaceRollup.table, integer: "bigint", text: "text", options: "PARTITION BY RANGE (start)", columns: UsageFields.namesBeforeCrossRegion
            ),
            NamespaceRollup.createSQL(
                NamespaceRollup.dayTable, integer: "bigint", text: "text", options: "PARTITION BY RANGE (start)", columns: UsageFields.namesBeforeCrossRegion
            ),
            """
                DO $$
                DECLARE p record;
                BEGIN
                    FOR p IN
                        SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
                        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid JOIN pg_class AS t ON t.oid = i.inhparent
                        WHERE t.relname = 'usage_hour' AND t.relnamespace = to_regnamespace(current_schema())::oid
                    LOOP
                        EXECUTE format(
                            'CREATE TABLE %I PARTITION OF \(NamespaceRollup.table) %s',
                            '\(NamespaceRollup.table)' || substr(p.name, length('usage_hour') + 1), p.bound
                        );
                        EXECUTE format(
                            'CREATE TABLE %I PARTITION OF \(NamespaceRollup.dayTable) %s',
                            '\(NamespaceRollup.dayTable)' || substr(p.name, length('usage_hour') + 1), p.bound
                        );
                    END LOOP;
                END
                $$
                """,
            // Writers of hour rows wait for the back-fill, so that it sums every committed row.
            "LOCK TABLE usage_hour IN SHARE MODE",
        ] + NamespaceRollup.fillSQL(integer: "::bigint", columns: UsageFields.namesBeforeCrossRegion)),
        // Rows from before it measured nothing cross-region: 0 bytes and $0 are exact for them.
        // A constant default adds the column to every partition without rewriting one.
        Migration(version: 4, summary: "cross-region network class: bytes and cost columns in every usage table", statements: [
            "usage_minute", "usage_hour", NamespaceRollup.table, NamespaceRollup.dayTable,
        ].map { table in
            "ALTER TABLE \(table) ADD COLUMN net_cross_region bigint NOT NULL DEFAULT 0, ADD COLUMN cost_net_cross_region bigint NOT NULL DEFAULT 0"
        }),
    ]

    /// One usage table of migration 1 (minute and hour rows have the same shape). Frozen with it.
    private static func usageTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            container_id bigint NOT NULL,
            start bigint NOT NULL,
            \(UsageFields.namesBeforeCrossRegion.map { "\($0) bigint NOT NULL" }.joined(separator: ",\n    "))
            , PRIMARY KEY (start, container_id)
        ) PARTITION BY RANGE (start)
        """
    }

    /// Brings the database to `latestVersion` on `connection`, under the migration lock, or
    /// refuses a database that is newer than this program or holds another program's tables.
    static func migrate(_ connection: PostgresConnection, location: String, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_lock(\(migrationLockKey))", logger: logger)
        do {
            try await migrateLocked(connection, location: location, logger: logger)
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(migrationLockKey))", logger: logger)
            throw error
        }
        try await connection.query("SELECT pg_advisory_unlock(\(migrationLockKey))", logger: logger)
    }

    private static func migrateLocked(_ connection: PostgresConnection, location: String, logger: Logger) async throws {
        let tracked = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        if !tracked {
            let tables = try await connection.query(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", logger: logger
            ).collect().first?.decode(Int64.self) ?? 0
            if tables > 0 {
                throw StoreError(.schema, "the database at \(location) has tables but no schema_migrations table: it is not a KubeHero database; use an empty database")
            }
            try await connection.query("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)", logger: logger)
        }
        let current = try await connection.query("SELECT coalesce(max(version), 0) FROM schema_migrations", logger: logger)
            .collect().first?.decode(Int.self) ?? 0
        if current > latestVersion {
            throw StoreError(
                .schema,
                "the database at \(location) has schema version \(current), newer than the latest this program knows (\(latestVersion)); run a newer kubehero-hub or restore a matching backup"
            )
        }
        for migration in migrations where migration.version > current {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (\(migration.version), (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                    logger: logger
                )
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            logger.info(
                "applied database migration",
                metadata: ["database": "\(location)", "version": "\(migration.version)", "summary": "\(migration.summary)"]
            )
        }
    }
}
