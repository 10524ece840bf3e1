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
