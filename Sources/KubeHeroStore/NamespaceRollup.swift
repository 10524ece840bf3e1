import KubeHeroCore

/// The hour rows summed per (hour, cluster, namespace): table `usage_namespace_hour` in every
/// backend, with columns `start`, `cluster`, `namespace`, then `UsageFields.names`.
///
/// A 30-day cost query by namespace or cluster then reads one row per namespace and hour
/// (50 namespaces: 36,000 rows) instead of one per container and hour (10,000 containers:
/// 7.2 M). The rollup is exact, not an estimate: every write to `usage_hour` — ingest,
/// re-pricing, hour retention, `kubehero-hub migrate` — changes it in the same transaction by
/// the same amounts, so that its sums equal the per-container rows' to the nano-dollar, idle
/// rows (namespace `IdleIdentity.name`) included.
public enum NamespaceRollup {
    public static let table = "usage_namespace_hour"

    /// Whether the rollup answers `query` exactly: hour rows, grouped by cluster or namespace,
    /// filtered (if at all) by cluster and namespace only.
    public static func answers(_ query: CostQuery) -> Bool {
        guard query.usesRollup, query.resolution == .hour else { return false }
        let f = query.filter
        guard f.node == nil, f.pod == nil, f.container == nil else { return false }
        return query.aggregation == .cluster || query.aggregation == .namespace
    }

    /// The statement that answers `query` (for which `answers` holds) from the rollup, with
    /// the same columns, order and sums as the per-container statement of both backends: the
    /// group's name, `UsageFields.names` summed, then the idle part. Its parameters are the
    /// range's start and end, then `values` in order.
    ///
    /// - `parameter(n)` spells the n-th placeholder (1-based: `?3`, `$3`);
    /// - `integer` is appended to sums that must stay 64-bit integers (`::bigint`);
    /// - `collation` follows the name in `ORDER BY` (PostgreSQL: ` COLLATE "C"`, the byte
    ///   order SQLite sorts text in).
    public static func costsSQL(
        _ query: CostQuery, parameter: (Int) -> String, integer: String, collation: String
    ) -> (sql: String, values: [String]) {
        let name = query.aggregation == .cluster ? "r.cluster" : "r.namespace"
        var values: [String] = []
        var filter = ""
        for case let (column, value?) in [("cluster", query.filter.cluster), ("namespace", query.filter.namespace)] {
            values.append(value)
            filter += " AND r.\(column) = \(parameter(values.count + 2))"
        }
        let idle = "sum(CASE WHEN r.namespace = '\(IdleIdentity.name)' THEN \(UsageFields.computeCostNames.map { "r.\($0)" }.joined(separator: " + ")) ELSE 0 END)\(integer)"
        let sql = """
            SELECT \(name) AS name, \(UsageFields.names.map { "sum(r.\($0))\(integer)" }.joined(separator: ", ")), \(idle)
            FROM \(table) AS r
            WHERE r.start >= \(parameter(1)) AND r.start < \(parameter(2))\(filter)
            GROUP BY \(name)
            ORDER BY \(UsageFields.costNames.map { "sum(r.\($0))" }.joined(separator: " + ")) DESC, \(name)\(collation)
            """
        return (sql, values)
    }

    /// `CREATE TABLE` of the rollup; `integer` and `text` are the backend's column types and
    /// `options` follows the closing parenthesis.
    public static func createSQL(integer: String, text: String, options: String) -> String {
        """
        CREATE TABLE \(table) (
            start \(integer) NOT NULL,
            cluster \(text) NOT NULL,
            namespace \(text) NOT NULL,
            \(UsageFields.names.map { "\($0) \(integer) NOT NULL" }.joined(separator: ",\n    ")),
            PRIMARY KEY (start, cluster, namespace)
        ) \(options)
        """
    }

    /// Fills the (empty) rollup from `usage_hour`: the back-fill of the migrations that add it,
    /// and how `kubehero-bench store` fills it for the rows it generates inside the database.
    /// `integer` is appended to the sums (`::bigint`).
    public static func fillSQL(integer: String) -> String {
        """
        INSERT INTO \(table) (start, cluster, namespace, \(UsageFields.names.joined(separator: ", ")))
        SELECT u.start, c.cluster, c.namespace, \(UsageFields.names.map { "sum(u.\($0))\(integer)" }.joined(separator: ", "))
        FROM usage_hour AS u JOIN containers AS c ON c.id = u.container_id
        GROUP BY u.start, c.cluster, c.namespace
        """
    }

    /// One transaction's additions to the rollup, summed per slot before they are written (one
    /// upsert per namespace and hour rather than one per row).
    public struct Sums: Sendable {
        public struct Slot: Hashable, Comparable, Sendable {
            public var start: Int64
            public var cluster: String
            public var namespace: String

            public static func < (a: Slot, b: Slot) -> Bool { (a.start, a.cluster, a.namespace) < (b.start, b.cluster, b.namespace) }
        }

        private var sums: [Slot: [Int64]] = [:]

        public init() {}

        public var isEmpty: Bool { sums.isEmpty }

        /// Adds a row's `values` (in `UsageFields.names` order) to the slot of the hour starting
        /// at `hourStart`. Throws when a sum leaves the Int64 range.
        public mutating func add(_ key: ContainerKey, hourStart: Int64, _ values: [Int64]) throws {
            let slot = Slot(start: hourStart, cluster: key.cluster, namespace: key.namespace)
            if sums[slot] == nil {
                sums[slot] = values
            } else {
                try UsageFields.add(&sums[slot]!, values)
            }
        }

        /// The slots in (start, cluster, namespace) order, so that writers lock shared rows in
        /// one order and cannot deadlock on them.
        public var sorted: [(slot: Slot, values: [Int64])] {
            sums.keys.sorted().map { ($0, sums[$0]!) }
        }
    }
}
