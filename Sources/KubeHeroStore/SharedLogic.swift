import KubeHeroCore

/// What a re-price changes in one node-minute: its rows' new costs as adjustments to add (the
/// cost difference, no usage), to the minute row and its hour alike. Backends store the
/// adjustments; the arithmetic is here once.
public struct RepriceStep: Sendable {
    /// Rows with zero usage and the difference between new and old cost, one per changed row
    /// (an idle row the re-price adds is a change from nothing).
    public var adjustments: [UsageRow] = []
    /// Total cost of the minute's rows before and after.
    public var before = Money.zero
    public var after = Money.zero

    /// `rows` are the node-minute's stored rows; `reprice` answers their new costs.
    public init(minute: NodeMinuteRecord, rows: [UsageRow], reprice: (NodeMinuteRecord, [UsageRow]) -> [UsageRow]) {
        var old = [ContainerKey: UsageRow]()
        for row in rows {
            old[row.key] = row
            before += row.cost.total
        }
        after = before
        for new in reprice(minute, rows) {
            let delta = new.cost.subtracting(old[new.key]?.cost ?? .zero)
            after += delta.total
            if delta == .zero { continue }
            adjustments.append(UsageRow(
                key: new.key, labels: old[new.key]?.labels ?? new.labels, startMillis: minute.startMillis, usage: .zero, cost: delta
            ))
        }
    }
}

extension ScopeSpendQuery {
    /// The statement both backends answer `scopeSpend` with. Its parameters are the earliest
    /// start, `endMillis`, then `starts` in order; its columns cluster, namespace, the labels as
    /// JSON text, then one amount per start. One pass over the rollup rows since the earliest
    /// start, summed per container first, then per (cluster, namespace, labels): the label text
    /// is compared, never parsed, per row.
    ///
    /// - `parameter(n)` spells the n-th placeholder (1-based: `?3`, `$3`);
    /// - `labels` is the containers' labels column, `labelsText` it as text;
    /// - `integer` is appended to sums that must stay 64-bit integers (`::bigint`).
    public func sql(parameter: (Int) -> String, labels: String, labelsText: String, integer: String) -> String {
        let total = UsageFields.costNames.map { "u.\($0)" }.joined(separator: " + ")
        let n = starts.count
        let perStart = (0..<n).map { "sum(CASE WHEN u.start >= \(parameter($0 + 3)) THEN \(total) ELSE 0 END)\(integer) AS a\($0)" }
        return """
            SELECT c.cluster, c.namespace, \(labelsText), \((0..<n).map { "sum(s.a\($0))\(integer)" }.joined(separator: ", "))
            FROM (
                SELECT u.container_id AS container_id, \(perStart.joined(separator: ", "))
                FROM usage_hour AS u
                WHERE u.start >= \(parameter(1)) AND u.start < \(parameter(2))
                GROUP BY u.container_id
            ) AS s JOIN containers AS c ON c.id = s.container_id
            GROUP BY c.cluster, c.namespace, \(labels)
            """
    }
}

extension Aggregation {
    /// The SQL expression of a cost group's name over a `containers AS c` row; `label` gives
    /// the expression of the value of a label (the backends store labels differently).
    public func groupNameSQL(label: (String) -> String) -> String {
        switch self {
        case .cluster: "c.cluster"
        case .node: "c.node"
        case .namespace: "c.namespace"
        case .pod: "c.namespace || '/' || c.pod"
        case .container: "c.namespace || '/' || c.pod || '/' || c.container"
        case .label(let key): label(key)
        }
    }
}
