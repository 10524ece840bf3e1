/// One stored value, backend-neutral, as `kubehero-hub migrate` copies a hub's state from one
/// store to another.
public enum StoreCell: Hashable, Sendable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

/// A table of a hub's state, as every backend has it, for copying row by row.
public struct StoreTable: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        case integer
        /// An integer that may be NULL.
        case optionalInteger
        case text
        case blob
        /// A JSON object kept as text (SQLite) or jsonb (PostgreSQL).
        case json
    }

    public struct Column: Hashable, Sendable {
        /// The name in the SQLite schema.
        public var name: String
        /// The name in the PostgreSQL schema, where it differs.
        public var postgresName: String
        public var kind: Kind

        public init(_ name: String, _ kind: Kind, postgres: String? = nil) {
            self.name = name
            self.kind = kind
            self.postgresName = postgres ?? name
        }
    }

    public var name: String
    public var columns: [Column]
    /// The columns (a prefix-free unique key) rows are read in order of, a page at a time.
    public var key: [String]
    /// A column whose values the database generates (an identity), copied as they are.
    public var identity: String?

    public var description: String { name }

    public init(_ name: String, _ columns: [Column], key: [String], identity: String? = nil) {
        self.name = name
        self.columns = columns
        self.key = key
        self.identity = identity
    }

    public var keyIndexes: [Int] { key.map { k in columns.firstIndex { $0.name == k }! } }
}

/// Every table of a hub's state, parents before children.
public enum StoreTables {
    private static func integers(_ names: [String]) -> [StoreTable.Column] { names.map { .init($0, .integer) } }

    /// What each node was, and how long it was observed, per minute (`NodeMinuteRecord`).
    public static let nodeMinutes = StoreTable("node_minutes", [
        .init("start", .integer), .init("cluster", .text), .init("node", .text), .init("instance_type", .text), .init("region", .text),
        .init("zone", .text), .init("capacity_type", .text),
    ] + integers(["cpu_millicores", "memory_bytes", "gpus"]) + [.init("price_override", .text)] + integers(["observed_ms", "price_version"]),
        key: ["start", "cluster", "node"])

    public static let all: [StoreTable] = [
        StoreTable("clusters", [
            .init("id", .integer), .init("name", .text), .init("cloud", .text), .init("region", .text),
            .init("labels_json", .json, postgres: "labels"), .init("created_at", .integer), .init("removed_at", .optionalInteger),
        ], key: ["id"], identity: "id"),
        StoreTable("certificates", [
            .init("serial", .text), .init("cluster_id", .integer), .init("not_before", .integer), .init("not_after", .integer),
            .init("pem", .text), .init("revoked_at", .optionalInteger),
        ], key: ["serial"]),
        StoreTable("tokens", [
            .init("id", .text), .init("name", .text), .init("role", .text), .init("secret_hash", .text),
            .init("created_at", .integer), .init("revoked_at", .optionalInteger),
        ], key: ["id"]),
        StoreTable("containers", [
            .init("id", .integer), .init("cluster", .text), .init("node", .text), .init("namespace", .text), .init("pod", .text),
            .init("container", .text), .init("labels_json", .json, postgres: "labels"),
        ], key: ["id"], identity: "id"),
        StoreTable("usage_minute", integers(["container_id", "start"] + UsageFields.names), key: ["start", "container_id"]),
        StoreTable("usage_hour", integers(["container_id", "start"] + UsageFields.names), key: ["start", "container_id"]),
    ] + [NamespaceRollup.table, NamespaceRollup.dayTable].map { name in
        StoreTable(
            name, [.init("start", .integer), .init("cluster", .text), .init("namespace", .text)] + integers(UsageFields.names),
            key: ["start", "cluster", "namespace"]
        )
    } + [
        StoreTable("batches", [
            .init("cluster", .text), .init("agent_instance", .text), .init("seq", .integer), .init("node", .text),
        ] + integers(["received_at", "window_start", "window_end", "samples"]), key: ["cluster", "agent_instance", "seq"]),
        StoreTable("cluster_activity", [.init("cluster", .text)] + integers(["last_batch_at", "batch_count"]), key: ["cluster"]),
        StoreTable("gaps", [
            .init("id", .integer), .init("cluster", .text), .init("node", .text), .init("agent_instance", .text),
        ] + integers(["seq", "reported_at", "dropped_ticks", "dropped_batches"]), key: ["id"], identity: "id"),
        StoreTable("price_versions", integers(["id", "effective_at", "imported_at"]) + [
            .init("origin", .text), .init("catalog_json", .text), .init("changes", .text),
        ], key: ["id"], identity: "id"),
        nodeMinutes,
        StoreTable("policies", [
            .init("name", .text), .init("document", .text),
        ] + integers(["armed", "revision", "created_at", "updated_at"]), key: ["name"]),
        StoreTable("policy_states", [.init("name", .text), .init("state", .text), .init("updated_at", .integer)], key: ["name"]),
        StoreTable("enforcement_acks", [
            .init("cluster", .text), .init("directive", .text), .init("policies_json", .text), .init("acked_at", .integer),
        ], key: ["cluster"]),
        StoreTable("audit_entries", integers(["idx", "at"]) + [
            .init("actor", .text), .init("action", .text), .init("entry", .blob), .init("leaf", .blob),
        ], key: ["idx"]),
        StoreTable("audit_checkpoints", [.init("size", .integer), .init("note", .text), .init("created_at", .integer)], key: ["size"]),
    ]
}

/// A store whose tables can be read row by row (the source of `kubehero-hub migrate`).
public protocol StoreExporting: Sendable {
    /// At most `limit` rows of `table`, in `table.key` order, after the row whose key is
    /// `after` (from the start when nil); cells in `table.columns` order.
    func exportRows(_ table: StoreTable, after: [StoreCell]?, limit: Int) async throws -> [[StoreCell]]
    /// Number of rows of `table`.
    func countRows(_ table: StoreTable) async throws -> Int
}

/// A store that takes tables row by row (the target of `kubehero-hub migrate`).
public protocol StoreImporting: Sendable {
    /// Inserts rows as they are, generated columns included, in one transaction.
    func importRows(_ table: StoreTable, _ rows: [[StoreCell]]) async throws
    /// After the last `importRows`: moves generated-id counters past the copied ids.
    func finishImport() async throws
    /// Number of rows of `table`.
    func countRows(_ table: StoreTable) async throws -> Int
}
