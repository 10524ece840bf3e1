import KubeHeroCore

// The JSON shapes of `/v1/policies`, shared by the hub and the CLI. docs/openapi.yaml
// describes the same.

/// A stored policy: the document as applied (defaults written out) and what the hub adds.
public struct PolicyInfo: Hashable, Sendable, Codable {
    public var policy: BudgetPolicy
    public var armed: Bool
    public var revision: Int64
    public var createdAt: String
    public var updatedAt: String

    public init(policy: BudgetPolicy, armed: Bool, revision: Int64, createdAt: String, updatedAt: String) {
        self.policy = policy
        self.armed = armed
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What an apply did.
public enum ApplyResult: String, Hashable, Sendable, Codable {
    case created, changed, unchanged
}

public struct PolicyApplyResponse: Hashable, Sendable, Codable {
    public var result: ApplyResult
    public var policy: PolicyInfo

    public init(result: ApplyResult, policy: PolicyInfo) {
        self.result = result
        self.policy = policy
    }
}

public struct PolicyList: Hashable, Sendable, Codable {
    public var items: [PolicyStatus]

    public init(items: [PolicyStatus]) { self.items = items }
}

/// `GET /v1/policies/{name}/status`: where the policy stands, and which clusters hold its
/// enforcement.
public struct PolicyStatus: Hashable, Sendable, Codable {
    public struct Cluster: Hashable, Sendable, Codable {
        public var name: String
        /// Whether the cluster's operator confirmed the enforcement state the hub wants
        /// (the rule while enforcing, no rule otherwise).
        public var acknowledged: Bool
        /// The enforcement set it last confirmed, and when.
        public var directive: String?
        public var acknowledgedAt: String?

        public init(name: String, acknowledged: Bool, directive: String?, acknowledgedAt: String?) {
            self.name = name
            self.acknowledged = acknowledged
            self.directive = directive
            self.acknowledgedAt = acknowledgedAt
        }
    }

    public var name: String
    public var ceiling: String
    public var period: String
    public var hardStop: Bool
    public var humanArm: Bool
    public var armed: Bool
    /// OK, Warning, ForecastBreach, Breached; "Pending" before the first evaluation.
    public var state: String
    /// Dollars, exact decimals.
    public var spent: String
    public var forecast: String
    public var percentOfCeiling: Double
    public var forecastPercentOfCeiling: Double
    public var periodStart: String?
    public var periodEnd: String?
    public var lastEvaluation: String?
    public var firedThresholds: [String]
    public var enforcing: Bool
    public var enforcingSince: String?
    /// Clusters the scope matches now.
    public var clusters: [Cluster]

    public init(
        name: String, ceiling: String, period: String, hardStop: Bool, humanArm: Bool, armed: Bool, state: String, spent: String,
        forecast: String, percentOfCeiling: Double, forecastPercentOfCeiling: Double, periodStart: String?, periodEnd: String?,
        lastEvaluation: String?, firedThresholds: [String], enforcing: Bool, enforcingSince: String?, clusters: [Cluster]
    ) {
        self.name = name
        self.ceiling = ceiling
        self.period = period
        self.hardStop = hardStop
        self.humanArm = humanArm
        self.armed = armed
        self.state = state
        self.spent = spent
        self.forecast = forecast
        self.percentOfCeiling = percentOfCeiling
        self.forecastPercentOfCeiling = forecastPercentOfCeiling
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.lastEvaluation = lastEvaluation
        self.firedThresholds = firedThresholds
        self.enforcing = enforcing
        self.enforcingSince = enforcingSince
        self.clusters = clusters
    }
}
