import KubeHeroCore

/// Where a policy stands after an evaluation.
public enum PolicyCondition: String, Hashable, Sendable, Codable, CaseIterable {
    /// Below every actual threshold, forecast below the ceiling.
    case ok = "OK"
    /// An actual threshold below 100 % is crossed.
    case warning = "Warning"
    /// The forecast for the period's end reaches the ceiling; spend does not yet.
    case forecastBreach = "ForecastBreach"
    /// Spend has reached the ceiling.
    case breached = "Breached"
}

/// What the hub remembers of a policy between evaluations (and across restarts): the
/// period, which thresholds already fired in it, and whether enforcement is on.
public struct PolicyState: Hashable, Sendable, Codable {
    public var periodKey: String
    public var periodStartMillis: Int64
    public var periodEndMillis: Int64
    /// Thresholds that fired in this period (`Threshold.description`), in firing order.
    public var fired: [String]
    public var condition: PolicyCondition
    public var spent: Money
    public var forecast: Money
    public var ceiling: Money
    public var evaluatedAtMillis: Int64
    /// Whether new pods in the scope are being denied.
    public var enforcing: Bool
    public var enforcingSinceMillis: Int64?
    /// Spend when enforcement started (what denied requests are told).
    public var enforcingSpent: Money?

    public init(
        periodKey: String, periodStartMillis: Int64, periodEndMillis: Int64, fired: [String], condition: PolicyCondition,
        spent: Money, forecast: Money, ceiling: Money, evaluatedAtMillis: Int64, enforcing: Bool, enforcingSinceMillis: Int64?,
        enforcingSpent: Money? = nil
    ) {
        self.enforcingSpent = enforcingSpent
        self.periodKey = periodKey
        self.periodStartMillis = periodStartMillis
        self.periodEndMillis = periodEndMillis
        self.fired = fired
        self.condition = condition
        self.spent = spent
        self.forecast = forecast
        self.ceiling = ceiling
        self.evaluatedAtMillis = evaluatedAtMillis
        self.enforcing = enforcing
        self.enforcingSinceMillis = enforcingSinceMillis
    }

    /// Spend as a fraction of the ceiling (1.0 = at the ceiling).
    public var spendRatio: Double { ceiling.nanoUSD > 0 ? Double(spent.nanoUSD) / Double(ceiling.nanoUSD) : 0 }
    public var forecastRatio: Double { ceiling.nanoUSD > 0 ? Double(forecast.nanoUSD) / Double(ceiling.nanoUSD) : 0 }

    /// The edge's rule while enforcing: the scope's namespace and pod parts (clusters are
    /// settled by the hub) and a message naming the policy, its spend and its ceiling.
    public func enforcementRule(for policy: BudgetPolicy) -> EnforcementRule? {
        guard enforcing, let since = enforcingSinceMillis else { return nil }
        let spentThen = enforcingSpent ?? spent
        let percent = ceiling.nanoUSD > 0 ? Int((Int128(spentThen.nanoUSD) * 100 / Int128(ceiling.nanoUSD))) : 0
        let message = "denied by KubeHero budget policy \"\(policy.name)\": spend \(spentThen.formatted()) reached \(percent)% of its ceiling \(policy.spec.ceiling) "
            + "(period from \(Timestamp.rfc3339(millis: periodStartMillis)), enforced since \(Timestamp.rfc3339(millis: since))); new pods in its scope are refused until the period ends, the ceiling is raised or the policy is disarmed"
        return EnforcementRule(
            policy: policy.name, namespaceSelector: policy.spec.scope.namespaceSelector, podSelector: policy.spec.scope.podSelector,
            message: message, sinceMillis: since
        )
    }
}

/// Something an evaluation found that people (alerts, audit log) should hear about.
public enum PolicyEvent: Hashable, Sendable {
    /// A new period began; the thresholds fired in the previous one are forgotten.
    case periodStarted(previousKey: String)
    case thresholdCrossed(BudgetPolicy.Threshold)
    case conditionChanged(from: PolicyCondition, to: PolicyCondition)
    case enforcementStarted
    case enforcementLifted(reason: String)

    /// `policy.threshold`, `enforcement.start`, ... : the audit action names.
    public var action: String {
        switch self {
        case .periodStarted: "policy.period"
        case .thresholdCrossed: "policy.threshold"
        case .conditionChanged: "policy.condition"
        case .enforcementStarted: "enforcement.start"
        case .enforcementLifted: "enforcement.stop"
        }
    }
}

/// Evaluates one policy at one instant: pure and deterministic, time passed in.
public enum PolicyEvaluator {
    public struct Result: Hashable, Sendable {
        public var state: PolicyState
        /// In the order they happened: period start, crossings by rising threshold, the
        /// condition change, then enforcement.
        public var events: [PolicyEvent]
    }

    /// - Parameters:
    ///   - previous: the state the last evaluation stored (nil for a new policy).
    ///   - spent: spend in the scope from `period(now).startMillis` to `now`.
    ///   - recent: spend in the scope from `Forecast.windowStart(now:)` to `now`.
    ///   - armed: whether a person armed the policy (matters only with `humanArm`).
    public static func evaluate(
        _ policy: BudgetPolicy, armed: Bool, previous: PolicyState?, spent: Money, recent: Money, now: Int64
    ) -> Result {
        let spec = policy.spec
        let period = period(of: policy, at: now)
        let ceiling = spec.ceiling.amount
        let forecast = max(Forecast.project(spent: spent, recent: recent, now: now, period: period, kind: spec.period), spent)
        var events: [PolicyEvent] = []

        var fired = previous?.fired ?? []
        if let previous, previous.periodKey != period.key {
            fired = []
            events.append(.periodStarted(previousKey: previous.periodKey))
        }
        func reached(_ t: BudgetPolicy.Threshold) -> Bool {
            let value = t.basis == .actual ? spent : forecast
            return Int128(value.nanoUSD) * 100 >= Int128(ceiling.nanoUSD) * Int128(t.percent)
        }
        if spec.period == .rolling {
            // A rolling window never starts over: a threshold re-arms once spend is back under it.
            fired.removeAll { key in !spec.thresholds.contains { $0.description == key && reached($0) } }
        }
        for t in spec.thresholds.sorted() where reached(t) && !fired.contains(t.description) {
            fired.append(t.description)
            events.append(.thresholdCrossed(t))
        }

        let condition: PolicyCondition
        if spent >= ceiling {
            condition = .breached
        } else if forecast >= ceiling {
            condition = .forecastBreach
        } else if spec.thresholds.contains(where: { $0.basis == .actual && reached($0) }) {
            condition = .warning
        } else {
            condition = .ok
        }
        let before = previous?.condition ?? .ok
        if condition != before { events.append(.conditionChanged(from: before, to: condition)) }

        let enforcing = condition == .breached && policy.enforces(armed: armed)
        let wasEnforcing = previous?.enforcing ?? false
        if enforcing && !wasEnforcing { events.append(.enforcementStarted) }
        if !enforcing && wasEnforcing {
            let reason: String
            if !policy.enforces(armed: armed) {
                reason = spec.hardStop ? "disarmed" : "hardStop turned off"
            } else if events.contains(where: { if case .periodStarted = $0 { true } else { false } }) {
                reason = "period start"
            } else if let previous, ceiling > previous.ceiling {
                reason = "ceiling raised above spend"
            } else {
                reason = "spend below the ceiling"
            }
            events.append(.enforcementLifted(reason: reason))
        }

        let state = PolicyState(
            periodKey: period.key, periodStartMillis: period.startMillis, periodEndMillis: period.endMillis, fired: fired,
            condition: condition, spent: spent, forecast: forecast, ceiling: ceiling, evaluatedAtMillis: now, enforcing: enforcing,
            enforcingSinceMillis: enforcing ? (wasEnforcing ? previous?.enforcingSinceMillis : now) : nil,
            enforcingSpent: enforcing ? (wasEnforcing ? previous?.enforcingSpent : spent) : nil
        )
        return Result(state: state, events: events)
    }

    /// The policy's period at `now`.
    public static func period(of policy: BudgetPolicy, at now: Int64) -> BudgetPeriod {
        BudgetPeriod.containing(now, kind: policy.spec.period, unit: policy.spec.ceiling.unit)
    }
}
