import KubeHeroCore

// MARK: Policies

/// A BudgetPolicy as stored. The store keeps the document as text and never interprets it;
/// the hub parses it (`KubeHeroPolicy`).
public struct PolicyRecord: Hashable, Sendable {
    public var name: String
    /// The document as canonical JSON (sorted keys, defaults written out), so that equal
    /// documents are equal text.
    public var documentJSON: String
    /// Whether a person armed the policy's hard stop (`kubehero policy arm`).
    public var armed: Bool
    /// 1 when created, one more each time the document changes (arming does not count).
    public var revision: Int64
    public var createdAtMillis: Int64
    public var updatedAtMillis: Int64

    public init(name: String, documentJSON: String, armed: Bool, revision: Int64, createdAtMillis: Int64, updatedAtMillis: Int64) {
        self.name = name
        self.documentJSON = documentJSON
        self.armed = armed
        self.revision = revision
        self.createdAtMillis = createdAtMillis
        self.updatedAtMillis = updatedAtMillis
    }
}

/// What the evaluator keeps of a policy between passes (and across restarts): opaque JSON
/// (`KubeHeroPolicy.PolicyState`), replaced as a whole.
public struct PolicyStateRecord: Hashable, Sendable {
    public var name: String
    public var stateJSON: String
    public var updatedAtMillis: Int64

    public init(name: String, stateJSON: String, updatedAtMillis: Int64) {
        self.name = name
        self.stateJSON = stateJSON
        self.updatedAtMillis = updatedAtMillis
    }
}

/// A cluster's edge operator confirmed it holds the enforcement set `directiveID`, which
/// enforces `policies`. One per cluster: a newer acknowledgement replaces the older.
public struct EnforcementAckRecord: Hashable, Sendable {
    public var cluster: String
    public var directiveID: String
    public var policies: [String]
    public var ackedAtMillis: Int64

    public init(cluster: String, directiveID: String, policies: [String], ackedAtMillis: Int64) {
        self.cluster = cluster
        self.directiveID = directiveID
        self.policies = policies
        self.ackedAtMillis = ackedAtMillis
    }

    /// `policies` as the backends store them: a JSON array (names are DNS labels: nothing to
    /// escape).
    public var policiesJSON: String {
        "[" + policies.map { "\"\($0)\"" }.joined(separator: ",") + "]"
    }
}

/// Spend per (cluster, namespace, label set) since each of several instants (budget period
/// starts, the run-rate window's start) up to `endMillis`, from the hourly rollups, in one
/// pass: a row starting in [`starts[i]`, `endMillis`) counts for `amounts[i]`. Starts are
/// hour-aligned; the current hour's rollup row counts with what it has so far.
public struct ScopeSpendQuery: Hashable, Sendable {
    public var starts: [Int64]
    public var endMillis: Int64

    public init(starts: [Int64], endMillis: Int64) {
        self.starts = starts
        self.endMillis = endMillis
    }
}

public struct ScopeSpendRow: Hashable, Sendable {
    public var cluster: String
    public var namespace: String
    /// The containers' labels (as last reported); containers with equal labels are one row.
    public var labels: [String: String]
    /// Total cost (every component) since each of the query's `starts`, in that order.
    public var amounts: [Money]

    public init(cluster: String, namespace: String, labels: [String: String], amounts: [Money]) {
        self.cluster = cluster
        self.namespace = namespace
        self.labels = labels
        self.amounts = amounts
    }
}
