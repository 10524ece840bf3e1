import KubeHeroCore

/// One evaluation of every policy at one instant, over the spend the store summed: pure, so
/// that tests and the benchmark run exactly what the hub runs.
///
/// ```swift
/// let starts = EvaluationPass.starts(for: policies.map(\.policy), now: now)
/// let rows = try await store.scopeSpend(ScopeSpendQuery(starts: starts, endMillis: now))
/// let results = EvaluationPass.run(policies, previous: states, groups: groups, starts: starts, clusters: labels, now: now)
/// ```
public enum EvaluationPass {
    public struct Input: Hashable, Sendable {
        public var policy: BudgetPolicy
        public var armed: Bool

        public init(policy: BudgetPolicy, armed: Bool) {
            self.policy = policy
            self.armed = armed
        }
    }

    /// The instants spend must be summed since: each distinct period start (sorted), then
    /// the run-rate window's start, last.
    public static func starts(for policies: [BudgetPolicy], now: Int64) -> [Int64] {
        Set(policies.map { PolicyEvaluator.period(of: $0, at: now).startMillis }).sorted() + [Forecast.windowStart(now: now)]
    }

    /// Evaluates every input; results by policy name.
    /// - Parameters:
    ///   - groups: spend since each of `starts` (as `starts(for:now:)` made them).
    ///   - clusters: active clusters' labels by name.
    public static func run(
        _ inputs: [Input], previous: [String: PolicyState], groups: [SpendGroup], starts: [Int64],
        clusters: [String: [String: String]], now: Int64
    ) -> [String: PolicyEvaluator.Result] {
        let index = SpendIndex(groups: groups, width: starts.count, clusters: clusters)
        let position = Dictionary(starts.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var results: [String: PolicyEvaluator.Result] = [:]
        results.reserveCapacity(inputs.count)
        // Policies often share a scope (one per team, one per environment): sum each once.
        var sums: [BudgetPolicy.Scope: [Money]] = [:]
        for input in inputs {
            let scope = input.policy.spec.scope
            let amounts: [Money]
            if let known = sums[scope] {
                amounts = known
            } else {
                amounts = index.spend(in: scope)
                sums[scope] = amounts
            }
            let start = PolicyEvaluator.period(of: input.policy, at: now).startMillis
            let spent = position[start].map { amounts[$0] } ?? .zero
            let recent = amounts.last ?? .zero
            results[input.policy.name] = PolicyEvaluator.evaluate(
                input.policy, armed: input.armed, previous: previous[input.policy.name], spent: spent, recent: recent, now: now
            )
        }
        return results
    }
}
