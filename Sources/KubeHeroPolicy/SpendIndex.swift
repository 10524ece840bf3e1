import KubeHeroCore

/// Stored spend of one (cluster, namespace, pod label set) since each of several instants
/// (period starts, the run-rate window's start), as the store's policy query returns it.
public struct SpendGroup: Hashable, Sendable {
    public var cluster: String
    public var namespace: String
    public var podLabels: [String: String]
    /// Spend since each instant of the query, in its order.
    public var amounts: [Money]

    public init(cluster: String, namespace: String, podLabels: [String: String], amounts: [Money]) {
        self.cluster = cluster
        self.namespace = namespace
        self.podLabels = podLabels
        self.amounts = amounts
    }
}

/// Sums spend over policy scopes, with the groups arranged by cluster and namespace so that a
/// scope naming its namespaces reads only those.
public struct SpendIndex: Sendable {
    private var byCluster: [String: [String: [SpendGroup]]] = [:]
    private let clusterLabels: [String: [String: String]]
    private let width: Int

    /// - Parameters:
    ///   - width: how many amounts each group has.
    ///   - clusters: the active clusters' labels, by name. Groups of other clusters (removed
    ///     ones) count for no policy.
    public init(groups: [SpendGroup], width: Int, clusters: [String: [String: String]]) {
        self.clusterLabels = clusters
        self.width = width
        for g in groups where clusters[g.cluster] != nil && g.amounts.count == width {
            byCluster[g.cluster, default: [:]][g.namespace, default: []].append(g)
        }
    }

    /// Names of the active clusters a selector matches, sorted.
    public func clusters(matching selector: LabelSelector) -> [String] {
        clusterLabels.filter { selector.matches($0.value) }.map(\.key).sorted()
    }

    /// The sums of everything in `scope`, one per amount.
    public func spend(in scope: BudgetPolicy.Scope) -> [Money] {
        var sums = [Int64](repeating: 0, count: width)
        func add(_ groups: [SpendGroup]) {
            for g in groups where scope.podSelector?.matches(g.podLabels) ?? true {
                for i in 0..<width { sums[i] &+= g.amounts[i].nanoUSD }
            }
        }
        for (cluster, labels) in clusterLabels where scope.clusterSelector.matches(labels) {
            guard let namespaces = byCluster[cluster] else { continue }
            if let ns = scope.namespaceSelector, !ns.matchNames.isEmpty {
                for name in Set(ns.matchNames) where ns.matches(namespace: name, labels: nil) {
                    add(namespaces[name] ?? [])
                }
            } else {
                for (name, groups) in namespaces where scope.namespaceSelector?.matches(namespace: name, labels: nil) ?? true {
                    add(groups)
                }
            }
        }
        return sums.map(Money.init(nanoUSD:))
    }
}
