import KubeHeroCore

/// The hour rows summed per (cluster, namespace): per hour in table `usage_namespace_hour`, and
/// per UTC day in `usage_namespace_day`, in every backend, both with columns `start`, `cluster`,
/// `namespace`, then `UsageFields.names`.
///
/// A 30-day cost query by namespace or cluster then reads one row per namespace and day, plus
/// one per namespace and hour for the partial days at the window's ends (50 namespaces: at most
/// 3,800 rows) instead of one per container and hour (10,000 containers: 7.2 M). The rollup is
/// exact, not an estimate: every write to `usage_hour` (ingest, re-pricing, hour retention,
/// `kubehero-hub migrate`) changes it in the same transaction by the same amounts, so that its
/// sums equal the per-container rows' to the nano-dollar, idle rows (namespace
/// `IdleIdentity.name`) included.
public enum NamespaceRollup {
    public static let table = "usage_namespace_hour"
    public static let dayTable = "usage_namespace_day"
    public static let dayMillis: Int64 = 86_400_000

    /// Whether the rollup answers `query` exactly: hour rows, grouped by cluster or namespace,
    /// filtered (if at all) by cluster and namespace only.
    public static func answers(_ query: CostQuery) -> Bool {
        guard query.usesRollup, query.resolution == .hour else { return false }
        let f = query.filter
        guard f.node == nil, f.pod == nil, f.container == nil else { return false }
        return query.aggregation == .cluster || query.aggregation == .namespace
    }

    /// A statement and what to bind: `integers` to parameters 1, 2, ..., then `texts`.
    public struct Statement: Sendable {
        public var sql: String
        public var integers: [Int64]
        public var texts: [String]
    }

    /// The statement that answers `query` (for which `answers` holds) from the rollup, with
    /// the same columns, order and sums as the per-container statement of both backends: the
    /// group's name, `UsageFields.names` summed, then the idle part. Hour rows are taken by
    /// their start, as from `usage_hour`: the days whose every hour starts in the range from
    /// the day rollup, the hours before and after them from the hour rollup.
    ///
    /// - `parameter(n)` spells the n-th placeholder (1-based: `?3`, `$3`);
    /// - `integer` is appended to sums that must stay 64-bit integers (`::bigint`);
    /// - `collation` follows the name in `ORDER BY` (PostgreSQL: ` COLLATE "C"`, the byte
    ///   order SQLite sorts text in).
    public static func costsSQL(_ query: CostQuery, parameter: (Int) -> String, integer: String, collation: String) -> Statement {
        let (start, end) = (query.range.startUnixMillis, query.range.endUnixMillis)
        var (firstDay, endDay) = (dayStart(start) == start ? start : dayStart(start) + dayMillis, dayStart(end))
        if endDay <= firstDay { (firstDay, endDay) = (end, end) }
        let name = query.aggregation == .cluster ? "r.cluster" : "r.namespace"
        var texts: [String] = []
        var filter = ""
        for case let (column, value?) in [("cluster", query.filter.cluster), ("namespace", query.filter.namespace)] {
            texts.append(value)
            filter += " AND \(column) = \(parameter(texts.count + 4))"
        }
        func part(_ table: String, _ from: Int, _ to: Int) -> String {
            "SELECT start, cluster, namespace, \(UsageFields.names.joined(separator: ", ")) FROM \(table) WHERE start >= \(parameter(from)) AND start < \(parameter(to))\(filter)"
        }
        let idle = "sum(CASE WHEN r.namespace = '\(IdleIdentity.name)' THEN \(UsageFields.computeCostNames.map { "r.\($0)" }.joined(separator: " + ")) ELSE 0 END)\(integer)"
        let sql = """
            SELECT \(name) AS name, \(UsageFields.names.map { "sum(r.\($0))\(integer)" }.joined(separator: ", ")), \(idle)
            FROM (\(part(dayTable, 3, 4)) UNION ALL \(part(table, 1, 3)) UNION ALL \(part(table, 4, 2))) AS r
            GROUP BY \(name)
            ORDER BY \(UsageFields.costNames.map { "sum(r.\($0))" }.joined(separator: " + ")) DESC, \(name)\(collation)
            """
        return Statement(sql: sql, integers: [start, end, firstDay, endDay], texts: texts)
    }

    /// The start of the UTC day containing `t` (also before 1970).
    public static func dayStart(_ t: Int64) -> Int64 { t - ((t % dayMillis) + dayMillis) % dayMillis }

    /// The same in SQL, for an integer expression.
    static func dayStartSQL(_ t: String) -> String { "(\(t) - ((\(t) % \(dayMillis)) + \(dayMillis)) % \(dayMillis))" }

    /// `CREATE TABLE` of `name` (`table` or `dayTable`); `integer` and `text` are the backend's
    /// column types and `options` follows the closing parenthesis.
    /// `columns` are the usage columns (`UsageFields.names`, or what a migration froze).
    public static func createSQL(_ name: String, integer: String, text: String, options: String, columns: [String] = UsageFields.names) -> String {
        """
        CREATE TABLE \(name) (
            start \(integer) NOT NULL,
            cluster \(text) NOT NULL,
            namespace \(text) NOT NULL,
            \(columns.map { "\($0) \(integer) NOT NULL" }.joined(separator: ",\n    ")),
            PRIMARY KEY (start, cluster, namespace)
        ) \(options)
        """
    }

    /// Fill the (empty) rollup from `usage_hour`, hours then days: the back-fill of the
    /// migrations that add it, and how `kubehero-bench store` fills it for the rows it generates
    /// inside the database. `integer` is appended to the sums (`::bigint`).
    public static func fillSQL(integer: String, columns names: [String] = UsageFields.names) -> [String] {
        let columns = names.joined(separator: ", ")
        let sums = names.map { "sum(u.\($0))\(integer)" }.joined(separator: ", ")
        return [
            """
            INSERT INTO \(table) (start, cluster, namespace, \(columns))
            SELECT u.start, c.cluster, c.namespace, \(sums)
            FROM usage_hour AS u JOIN containers AS c ON c.id = u.container_id
            GROUP BY u.start, c.cluster, c.namespace
            """,
            """
            INSERT INTO \(dayTable) (start, cluster, namespace, \(columns))
            SELECT \(dayStartSQL("u.start")) AS day, u.cluster, u.namespace, \(sums)
            FROM \(table) AS u
            GROUP BY day, u.cluster, u.namespace
            """,
        ]
    }

    /// After hour retention cut the hour rollup at parameter 1 (`cut`, which may fall inside a
    /// day): the day rows before the cut go, and the day that straddles it is summed again from
    /// the hour rows it keeps.
    public static func dayRetentionSQL(cut: String, integer: String) -> [String] {
        [
            "DELETE FROM \(dayTable) WHERE start < \(cut)",
            """
            INSERT INTO \(dayTable) (start, cluster, namespace, \(UsageFields.names.joined(separator: ", ")))
            SELECT \(dayStartSQL(cut)), u.cluster, u.namespace, \(UsageFields.names.map { "sum(u.\($0))\(integer)" }.joined(separator: ", "))
            FROM \(table) AS u
            WHERE u.start >= \(cut) AND u.start < \(dayStartSQL(cut)) + \(dayMillis) AND \(dayStartSQL(cut)) < \(cut)
            GROUP BY u.cluster, u.namespace
            """,
        ]
    }

    /// One transaction's additions to the rollup, summed per slot before they are written (one
    /// upsert per namespace and hour, and per namespace and day, rather than one per row).
    public struct Sums: Sendable {
        public struct Slot: Hashable, Comparable, Sendable {
            public var start: Int64
            public var cluster: String
            public var namespace: String

            public static func < (a: Slot, b: Slot) -> Bool { (a.start, a.cluster, a.namespace) < (b.start, b.cluster, b.namespace) }
        }

        private var hours: [Slot: [Int64]] = [:]
        private var days: [Slot: [Int64]] = [:]

        public init() {}

        public var isEmpty: Bool { hours.isEmpty }

        /// Adds a row's `values` (in `UsageFields.names` order) to the slots of the hour starting
        /// at `hourStart` and of its day. Throws when a sum leaves the Int64 range.
        public mutating func add(_ key: ContainerKey, hourStart: Int64, _ values: [Int64]) throws {
            for (start, span) in [(hourStart, \Sums.hours), (NamespaceRollup.dayStart(hourStart), \Sums.days)] {
                let slot = Slot(start: start, cluster: key.cluster, namespace: key.namespace)
                if self[keyPath: span][slot] == nil {
                    self[keyPath: span][slot] = values
                } else {
                    try UsageFields.add(&self[keyPath: span][slot]!, values)
                }
            }
        }

        /// Per table (`table`, then `dayTable`), the slots in (start, cluster, namespace) order,
        /// so that writers lock shared rows in one order and cannot deadlock on them.
        public var sorted: [(table: String, sums: [(slot: Slot, values: [Int64])])] {
            [(NamespaceRollup.table, hours), (NamespaceRollup.dayTable, days)].map { table, sums in
                (table, sums.keys.sorted().map { ($0, sums[$0]!) })
            }
        }
    }
}
