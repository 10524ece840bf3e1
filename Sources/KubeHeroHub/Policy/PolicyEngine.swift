import KubeHeroAudit
import KubeHeroCore
import KubeHeroPolicy
import KubeHeroStore
import Logging
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Evaluates every BudgetPolicy against stored spend, records what it finds (states and audit
/// entries in one transaction), queues alerts, and publishes each cluster's enforcement set.
/// The policy math is `KubeHeroPolicy.EvaluationPass`; this is the part with effects.
public final class PolicyEngine: Sendable {
    /// What one pass did, for metrics, logs and the benchmark.
    public struct PassReport: Sendable, Hashable {
        public var atMillis: Int64
        public var policies: Int
        public var spendGroups: Int
        public var events: Int
        public var enforcing: Int
        public var durationSeconds: Double
        /// Where the time went: reading policies, states and clusters; the spend query; the
        /// evaluation itself; saving states and audit entries.
        public var phases: [(String, Double)] = []

        public static func == (a: PassReport, b: PassReport) -> Bool {
            (a.atMillis, a.policies, a.spendGroups, a.events, a.enforcing, a.durationSeconds) == (b.atMillis, b.policies, b.spendGroups, b.events, b.enforcing, b.durationSeconds)
        }

        public func hash(into h: inout Hasher) { h.combine(atMillis); h.combine(durationSeconds) }
    }

    let store: any HubStore
    let now: @Sendable () -> Int64
    let logger: Logger
    public let enforcement: EnforcementBroadcaster
    let alerter: WebhookAlerter?
    /// Parsed documents by their stored JSON: a pass parses only what changed.
    private let parsed = Mutex<[String: BudgetPolicy]>([:])
    private let last = Mutex<PassReport?>(nil)
    /// Pass durations, for the `kubehero_policy_evaluation_duration_seconds` histogram.
    private let durations = Mutex(DurationHistogram())
    /// Set by a change (apply, arm, disarm, delete) so that the service evaluates at once.
    private let requested = Mutex(false)
    private let passLock = AsyncLock()
    private let spendCache = Mutex<SpendCache?>(nil)

    public init(store: any HubStore, enforcement: EnforcementBroadcaster, alerter: WebhookAlerter?, now: @escaping @Sendable () -> Int64, logger: Logger) {
        self.store = store
        self.enforcement = enforcement
        self.alerter = alerter
        self.now = now
        self.logger = logger
    }

    public var lastPass: PassReport? { last.withLock { $0 } }

    var durationHistogram: DurationHistogram { durations.withLock { $0 } }

    /// Asks the evaluation service for a pass now rather than at its next interval.
    public func requestEvaluation() { requested.withLock { $0 = true } }

    /// Whether a pass was requested since the last call (and clears the request).
    func takeRequest() -> Bool { requested.withLock { r in defer { r = false }; return r } }

    /// The stored document of `record`.
    public func policy(of record: PolicyRecord) throws -> BudgetPolicy {
        if let p = parsed.withLock({ $0[record.documentJSON] }) { return p }
        let p: BudgetPolicy
        do {
            p = try JSONDecoder().decode(BudgetPolicy.self, from: Data(record.documentJSON.utf8))
        } catch {
            throw StoreError(.backend, "stored policy \"\(record.name)\" cannot be read: \(error)")
        }
        parsed.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[record.documentJSON] = p
        }
        return p
    }

    static func decodeState(_ record: PolicyStateRecord) -> PolicyState? {
        try? JSONDecoder().decode(PolicyState.self, from: Data(record.stateJSON.utf8))
    }

    static func encodeState(_ state: PolicyState) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(state)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// One evaluation of every policy at `now()`. Passes never overlap (a second caller waits),
    /// so no event is found twice from the same stored state.
    @discardableResult
    public func evaluate() async throws -> PassReport {
        await passLock.lock()
        defer { passLock.unlock() }
        return try await evaluateLocked()
    }

    private func evaluateLocked() async throws -> PassReport {
        let started = ContinuousClock.now
        let t = now()
        let records = try await store.listPolicies()
        var inputs: [EvaluationPass.Input] = []
        inputs.reserveCapacity(records.count)
        for r in records {
            do {
                inputs.append(EvaluationPass.Input(policy: try policy(of: r), armed: r.armed))
            } catch {
                logger.error("skipping a stored policy that cannot be read", metadata: ["policy": "\(r.name)", "error": "\(error)"])
            }
        }
        var previous: [String: PolicyState] = [:]
        for s in try await store.policyStates() { previous[s.name] = Self.decodeState(s) }
        let clusters = try await store.listClusters()
        var phases: [(String, Double)] = [("read", Self.seconds(ContinuousClock.now - started))]
        var mark = ContinuousClock.now
        func phase(_ name: String) {
            let t = ContinuousClock.now
            phases.append((name, Self.seconds(t - mark)))
            mark = t
        }
        let labels = Dictionary(clusters.map { ($0.name, $0.labels) }, uniquingKeysWith: { a, _ in a })

        let starts = EvaluationPass.starts(for: inputs.map(\.policy), now: t)
        let groups = inputs.isEmpty ? [] : try await spend(since: starts, now: t)
        phase("spend query")
        let results = EvaluationPass.run(inputs, previous: previous, groups: groups, starts: starts, clusters: labels, now: t)
        phase("evaluate")

        var states: [PolicyStateRecord] = []
        var audit: [AuditDraft] = []
        var alerts: [PolicyAlert] = []
        var events = 0
        for input in inputs {
            guard let result = results[input.policy.name] else { continue }
            if result.state != previous[input.policy.name] {
                states.append(PolicyStateRecord(name: input.policy.name, stateJSON: Self.encodeState(result.state), updatedAtMillis: t))
            }
            for event in result.events {
                events += 1
                audit.append(Self.auditDraft(event, policy: input.policy, state: result.state, at: t))
                if let alert = Self.alertText(event, policy: input.policy, state: result.state) {
                    for channel in input.policy.spec.alertChannels {
                        alerts.append(PolicyAlert(url: channel.webhook, policy: input.policy.name, event: event.action, body: Self.alertBody(alert, event: event, policy: input.policy, state: result.state)))
                    }
                }
            }
        }
        // States and what they record, in one transaction: a crossing recorded is a crossing
        // remembered, so a restart never fires it again.
        try await store.savePolicyStates(states, audit: audit)
        for a in alerts { alerter?.enqueue(a) }
        phase("save")

        let rules = inputs.compactMap { input in
            results[input.policy.name]?.state.enforcementRule(for: input.policy).map { (input.policy, $0) }
        }
        let enforcing = rules.count
        enforcement.publish(Self.enforcementSets(rules, clusters: clusters))

        let report = PassReport(
            atMillis: t, policies: inputs.count, spendGroups: groups.count, events: events, enforcing: enforcing,
            durationSeconds: Self.seconds(ContinuousClock.now - started), phases: phases
        )
        last.withLock { $0 = report }
        durations.withLock { $0.observe(report.durationSeconds) }
        if events > 0 {
            logger.info("policy evaluation", metadata: ["policies": "\(report.policies)", "events": "\(events)", "enforcing": "\(enforcing)"])
        }
        return report
    }

    /// Each cluster's enforcement set: the rules of the policies whose cluster selector matches it.
    static func enforcementSets(_ rules: [(BudgetPolicy, EnforcementRule)], clusters: [ClusterRecord]) -> [String: EnforcementSet] {
        var sets: [String: [EnforcementRule]] = [:]
        for (policy, rule) in rules {
            for c in clusters where policy.spec.scope.clusterSelector.matches(c.labels) {
                sets[c.name, default: []].append(rule)
            }
        }
        return sets.mapValues { EnforcementSet(rules: $0) }
    }

    /// For a replica that does not evaluate: publishes the enforcement sets that the leader's
    /// last stored states give, so that edge operators connected here (and this replica's own
    /// admission endpoint) hold what the leader decided. Nothing is recorded or sent anywhere
    /// else. A policy that no longer enforces as stored now (disarmed, `hardStop` turned off)
    /// is left out at once: lifting never waits for the leader's next pass; starting does.
    /// Returns how many policies are enforcing.
    @discardableResult
    public func publishStoredEnforcement() async throws -> Int {
        let records = try await store.listPolicies()
        var states: [String: PolicyState] = [:]
        for s in try await store.policyStates() { states[s.name] = Self.decodeState(s) }
        let clusters = try await store.listClusters()
        var rules: [(BudgetPolicy, EnforcementRule)] = []
        for r in records {
            guard let state = states[r.name], state.enforcing, let policy = try? policy(of: r), policy.enforces(armed: r.armed),
                  let rule = state.enforcementRule(for: policy) else { continue }
            rules.append((policy, rule))
        }
        enforcement.publish(Self.enforcementSets(rules, clusters: clusters))
        return rules.count
    }

    /// Spend per group since each of `starts` up to `now`.
    ///
    /// Hours that ended more than `settleMillis` ago are summed once and kept (`SpendCache`);
    /// a pass then reads only the rows since (a few thousand instead of every hour of the
    /// period). The kept sums are recomputed whenever the starts change (a new period) and
    /// every hour as the settled point moves, so a batch that arrives later than that is counted
    /// within the hour.
    func spend(since starts: [Int64], now t: Int64) async throws -> [SpendGroup] {
        let settled = ((t - Self.settleMillis) / 3_600_000) * 3_600_000
        var base = spendCache.withLock { cache in cache.flatMap { $0.starts == starts && $0.settled == settled ? $0.sums : nil } }
        if base == nil {
            let rows = try await store.scopeSpend(ScopeSpendQuery(starts: starts, endMillis: settled))
            var sums: [SpendCache.Key: [Int64]] = [:]
            for r in rows { sums[SpendCache.Key(r), default: Array(repeating: 0, count: starts.count)].add(r.amounts) }
            let computed = sums
            spendCache.withLock { $0 = SpendCache(starts: starts, settled: settled, sums: computed) }
            base = sums
        }
        var sums = base ?? [:]
        for r in try await store.scopeSpend(ScopeSpendQuery(starts: starts.map { max($0, settled) }, endMillis: t)) {
            sums[SpendCache.Key(r), default: Array(repeating: 0, count: starts.count)].add(r.amounts)
        }
        return sums.map { key, amounts in
            SpendGroup(cluster: key.cluster, namespace: key.namespace, podLabels: key.labels, amounts: amounts.map(Money.init(nanoUSD:)))
        }
    }

    /// How long after an hour ends its rollup is taken as final (agents deliver late batches).
    static let settleMillis: Int64 = 2 * 3_600_000

    public static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    // MARK: Audit entries and alerts

    static func auditDraft(_ event: PolicyEvent, policy: BudgetPolicy, state: PolicyState, at t: Int64) -> AuditDraft {
        var details: [String: JSONValue] = [
            "spent": .string(state.spent.decimalString), "forecast": .string(state.forecast.decimalString),
            "ceiling": .string(policy.spec.ceiling.description), "period": .string(state.periodKey),
            "state": .string(state.condition.rawValue),
        ]
        let action: AuditAction
        switch event {
        case .periodStarted(let previousKey):
            action = .policyPeriod
            details["previousPeriod"] = .string(previousKey)
        case .thresholdCrossed(let threshold):
            action = .thresholdCrossed
            details["threshold"] = .string(threshold.description)
        case .conditionChanged(let from, let to):
            action = .policyCondition
            details["from"] = .string(from.rawValue)
            details["to"] = .string(to.rawValue)
        case .enforcementStarted:
            action = .enforcementStart
        case .enforcementLifted(let reason):
            action = .enforcementStop
            details["reason"] = .string(reason)
        }
        return AuditDraft(timeMillis: t, actor: .hub, action: action, subject: "policy/\(policy.name)", details: details)
    }

    /// The alert's one-line text, for the events people are alerted about.
    static func alertText(_ event: PolicyEvent, policy: BudgetPolicy, state: PolicyState) -> String? {
        let spend = "spent \(state.spent.formatted()) of \(policy.spec.ceiling) (\(percent(state.spendRatio))), forecast \(state.forecast.formatted()) (\(percent(state.forecastRatio)))"
        switch event {
        case .thresholdCrossed(let t):
            return "KubeHero budget policy \(policy.name): \(t) threshold crossed - \(spend)"
        case .enforcementStarted:
            return "KubeHero budget policy \(policy.name): ceiling breached, hard stop enforced - new pods in its scope are denied; \(spend)"
        case .enforcementLifted(let reason):
            return "KubeHero budget policy \(policy.name): hard stop lifted (\(reason)); \(spend)"
        case .periodStarted, .conditionChanged:
            return nil
        }
    }

    static func percent(_ ratio: Double) -> String { "\(Int((ratio * 100).rounded()))%" }

    static func alertBody(_ text: String, event: PolicyEvent, policy: BudgetPolicy, state: PolicyState) -> String {
        var fields: [String: JSONValue] = [
            "text": .string(text), "policy": .string(policy.name), "event": .string(event.action),
            "state": .string(state.condition.rawValue), "spent": .string(state.spent.decimalString),
            "forecast": .string(state.forecast.decimalString), "ceiling": .string(policy.spec.ceiling.description),
            "periodStart": .string(Timestamp.rfc3339(millis: state.periodStartMillis)),
            "time": .string(Timestamp.rfc3339(millis: state.evaluatedAtMillis)),
        ]
        if case .thresholdCrossed(let t) = event { fields["threshold"] = .string(t.description) }
        return String(decoding: CanonicalJSON.encode(.object(fields)), as: UTF8.self)
    }
}

/// A lock for async code: `lock()` suspends (it never blocks a thread) until the holder
/// calls `unlock()`; waiters get it in arrival order.
final class AsyncLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func lock() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                if !s.held {
                    s.held = true
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if acquired { c.resume() }
        }
    }

    func unlock() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.held = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// Cumulative buckets of pass durations, as a Prometheus histogram.
struct DurationHistogram: Sendable {
    static let bounds: [Double] = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]
    var counts = [Int](repeating: 0, count: bounds.count)
    var count = 0
    var sum = 0.0

    mutating func observe(_ seconds: Double) {
        for (i, b) in Self.bounds.enumerated() where seconds <= b { counts[i] += 1 }
        count += 1
        sum += seconds
    }

    func render(_ name: String, help: String) -> [String] {
        var lines = ["# HELP \(name) \(help)", "# TYPE \(name) histogram"]
        for (i, b) in Self.bounds.enumerated() { lines.append("\(name)_bucket{le=\"\(b)\"} \(counts[i])") }
        lines.append("\(name)_bucket{le=\"+Inf\"} \(count)")
        lines.append("\(name)_sum \(sum)")
        lines.append("\(name)_count \(count)")
        return lines
    }
}

/// Spend per group over the settled hours, kept between passes (see `PolicyEngine.spend`).
struct SpendCache: Sendable {
    struct Key: Hashable, Sendable {
        var cluster: String
        var namespace: String
        var labels: [String: String]

        init(_ row: ScopeSpendRow) {
            cluster = row.cluster
            namespace = row.namespace
            labels = row.labels
        }
    }

    var starts: [Int64]
    var settled: Int64
    var sums: [Key: [Int64]]
}

extension Array where Element == Int64 {
    /// Adds `amounts` element-wise (same length).
    mutating func add(_ amounts: [Money]) {
        for i in indices where i < amounts.count { self[i] &+= amounts[i].nanoUSD }
    }
}
