import Foundation
import KubeHeroCore
import KubeHeroPolicy
import Testing

let hour: Int64 = 3_600_000
let day: Int64 = 86_400_000

func dollars(_ d: Int64) -> Money { Money(nanoUSD: d * 1_000_000_000) }

/// 2026-11-01T00:00:00Z, a Sunday.
let november = Timestamp.parseRFC3339("2026-11-01T00:00:00Z")!

func policy(_ ceiling: String = "$1000/mo", hardStop: Bool = true, humanArm: Bool = true, thresholds: [BudgetPolicy.Threshold] = BudgetPolicy.Threshold.defaults, period: BudgetPolicy.PeriodKind = .calendar) throws -> BudgetPolicy {
    BudgetPolicy(name: "p", spec: .init(
        scope: .init(clusterSelector: LabelSelector(matchLabels: ["env": "prod"])), ceiling: try Ceiling(parsing: ceiling),
        period: period, thresholds: thresholds, hardStop: hardStop, humanArm: humanArm
    ))
}

/// Drives evaluations with a deterministic clock over a synthetic spend history: a constant
/// hourly spend, so that spend and the run rate at any instant follow from the clock.
struct Simulation {
    var policy: BudgetPolicy
    var armed = false
    var state: PolicyState?
    var events: [(Int64, PolicyEvent)] = []
    /// Spend per hour.
    var rate: Money

    mutating func step(to now: Int64) {
        let period = PolicyEvaluator.period(of: policy, at: now)
        let spent = Money(nanoUSD: rate.nanoUSD * (now - period.startMillis) / hour)
        let recent = Money(nanoUSD: rate.nanoUSD * (now - Forecast.windowStart(now: now)) / hour)
        let r = PolicyEvaluator.evaluate(policy, armed: armed, previous: state, spent: spent, recent: recent, now: now)
        state = r.state
        events += r.events.map { (now, $0) }
    }

    /// A restart: the state goes through its stored JSON form.
    mutating func restart() throws {
        let data = try JSONEncoder().encode(state)
        state = try JSONDecoder().decode(PolicyState.self, from: data)
    }

    var crossings: [String] {
        events.compactMap { if case .thresholdCrossed(let t) = $0.1 { t.description } else { nil } }
    }
}

@Suite struct EvaluationTests {
    @Test func thresholdsFireOnceEachAndInOrder() throws {
        // $1000/mo at $2/h (since before the month began): 50 % after 250 h, 80 % after 400 h,
        // 100 % after 500 h; the month's forecast ($2 x 720 h = $1440) is over the ceiling
        // from the first evaluation.
        var sim = Simulation(policy: try policy(), rate: dollars(2))
        var t = november + hour
        while t < november + 30 * day {
            sim.step(to: t)
            t += hour
        }
        #expect(sim.crossings == ["100% forecast", "50% actual", "80% actual", "100% actual"])
        let times = sim.events.compactMap { e -> Int64? in if case .thresholdCrossed = e.1 { e.0 } else { nil } }
        #expect(times == [november + hour, november + 250 * hour, november + 400 * hour, november + 500 * hour])
        #expect(sim.state?.condition == .breached)
    }

    @Test func forecastCrossesBeforeActual() throws {
        var sim = Simulation(policy: try policy(thresholds: [.init(percent: 100), .init(percent: 100, basis: .forecast)]), rate: dollars(2))
        var conditions: [PolicyCondition] = []
        for h in stride(from: Int64(1), to: 720, by: 1) {
            sim.step(to: november + h * hour)
            if conditions.last != sim.state!.condition { conditions.append(sim.state!.condition) }
        }
        #expect(sim.crossings == ["100% forecast", "100% actual"])
        #expect(conditions == [.forecastBreach, .breached])
    }

    @Test func restartDoesNotRefire() throws {
        var sim = Simulation(policy: try policy(), rate: dollars(2))
        for h in stride(from: Int64(1), through: 420, by: 1) { sim.step(to: november + h * hour) }
        let before = sim.crossings
        #expect(before == ["100% forecast", "50% actual", "80% actual"])
        try sim.restart()
        for h in stride(from: Int64(421), through: 450, by: 1) { sim.step(to: november + h * hour) }
        #expect(sim.crossings == before)
    }

    @Test func periodRolloverResetsThresholdsAndLiftsEnforcement() throws {
        var sim = Simulation(policy: try policy(humanArm: false), rate: dollars(2))
        for h in stride(from: Int64(1), to: 30 * 24, by: 1) { sim.step(to: november + h * hour) }
        #expect(sim.state?.enforcing == true)
        let firstMonth = sim.crossings.count
        let december = Timestamp.parseRFC3339("2026-12-01T00:00:00Z")!
        sim.step(to: december + 60_000)
        #expect(sim.state?.periodKey == "2026-12-01T00:00:00Z")
        #expect(sim.state?.fired == ["100% forecast"])
        #expect(sim.state?.enforcing == false)
        let last = sim.events.filter { $0.0 == december + 60_000 }.map(\.1)
        #expect(last.first == .periodStarted(previousKey: "2026-11-01T00:00:00Z"))
        #expect(last.contains(.enforcementLifted(reason: "period start")))
        // The thresholds fire again in December.
        for h in stride(from: Int64(1), to: 31 * 24, by: 1) { sim.step(to: december + h * hour) }
        #expect(sim.crossings.count == 2 * firstMonth)
    }

    @Test func enforcementWaitsForArmingAndLiftsOnDisarm() throws {
        var sim = Simulation(policy: try policy(), rate: dollars(2))
        sim.step(to: november + 600 * hour)
        #expect(sim.state?.condition == .breached)
        #expect(sim.state?.enforcing == false)
        sim.armed = true
        sim.step(to: november + 601 * hour)
        #expect(sim.state?.enforcing == true)
        #expect(sim.state?.enforcingSinceMillis == november + 601 * hour)
        sim.step(to: november + 602 * hour)
        #expect(sim.state?.enforcingSinceMillis == november + 601 * hour)
        sim.armed = false
        sim.step(to: november + 603 * hour)
        #expect(sim.state?.enforcing == false)
        #expect(sim.events.last?.1 == .enforcementLifted(reason: "disarmed"))
    }

    @Test func raisingTheCeilingAboveSpendLiftsEnforcement() throws {
        var sim = Simulation(policy: try policy(humanArm: false), rate: dollars(2))
        sim.step(to: november + 600 * hour)
        #expect(sim.state?.enforcing == true)
        sim.policy = try policy("$5000/mo", humanArm: false)
        sim.step(to: november + 601 * hour)
        #expect(sim.state?.enforcing == false)
        #expect(sim.state?.condition == .ok)
        #expect(sim.events.last?.1 == .enforcementLifted(reason: "ceiling raised above spend"))
    }

    @Test func withoutHardStopNothingIsEnforced() throws {
        var sim = Simulation(policy: try policy(hardStop: false, humanArm: false), rate: dollars(2))
        sim.armed = true
        sim.step(to: november + 600 * hour)
        #expect(sim.state?.condition == .breached)
        #expect(sim.state?.enforcing == false)
    }

    @Test func rollingThresholdsRearmWhenSpendFallsBelowThem() throws {
        let p = try policy("$100/day", hardStop: false, thresholds: [.init(percent: 80)], period: .rolling)
        var state: PolicyState?
        var crossings = 0
        func eval(_ spent: Int64, at now: Int64) {
            let r = PolicyEvaluator.evaluate(p, armed: false, previous: state, spent: dollars(spent), recent: dollars(spent), now: now)
            state = r.state
            crossings += r.events.filter { if case .thresholdCrossed = $0 { true } else { false } }.count
        }
        eval(85, at: november)
        eval(90, at: november + hour)
        #expect(crossings == 1)
        eval(50, at: november + 2 * hour)
        eval(85, at: november + 3 * hour)
        #expect(crossings == 2)
    }
}

@Suite struct PeriodTests {
    func at(_ s: String) -> Int64 { Timestamp.parseRFC3339(s)! }

    @Test func calendarPeriodsAreUTC() {
        let now = at("2026-11-18T13:45:10Z")  // a Wednesday
        func bounds(_ unit: PeriodUnit) -> (String, String) {
            let p = BudgetPeriod.containing(now, kind: .calendar, unit: unit)
            return (Timestamp.rfc3339(millis: p.startMillis), Timestamp.rfc3339(millis: p.endMillis))
        }
        #expect(bounds(.hour) == ("2026-11-18T13:00:00Z", "2026-11-18T14:00:00Z"))
        #expect(bounds(.day) == ("2026-11-18T00:00:00Z", "2026-11-19T00:00:00Z"))
        #expect(bounds(.week) == ("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z"))
        #expect(bounds(.month) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"))
        #expect(bounds(.year) == ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"))
        let december = BudgetPeriod.containing(at("2026-12-31T23:59:59Z"), kind: .calendar, unit: .month)
        #expect(Timestamp.rfc3339(millis: december.endMillis) == "2027-01-01T00:00:00Z")
        let monday = BudgetPeriod.containing(at("2026-11-23T00:00:00Z"), kind: .calendar, unit: .week)
        #expect(Timestamp.rfc3339(millis: monday.startMillis) == "2026-11-23T00:00:00Z")
    }

    @Test func rollingPeriodsStartOnAnHour() {
        let p = BudgetPeriod.containing(at("2026-11-18T13:45:10Z"), kind: .rolling, unit: .day)
        #expect(Timestamp.rfc3339(millis: p.startMillis) == "2026-11-17T13:00:00Z")
        #expect(p.key == "rolling")
    }
}

@Suite struct SpendIndexTests {
    @Test func scopesSumTheirClustersNamespacesAndPods() throws {
        let groups = [
            SpendGroup(cluster: "prod-a", namespace: "payments", podLabels: ["team": "ml"], amounts: [dollars(10), dollars(1)]),
            SpendGroup(cluster: "prod-a", namespace: "payments", podLabels: ["team": "web"], amounts: [dollars(20), dollars(2)]),
            SpendGroup(cluster: "prod-a", namespace: "search", podLabels: ["team": "ml"], amounts: [dollars(40), dollars(4)]),
            SpendGroup(cluster: "staging", namespace: "payments", podLabels: ["team": "ml"], amounts: [dollars(80), dollars(8)]),
            SpendGroup(cluster: "removed", namespace: "payments", podLabels: ["team": "ml"], amounts: [dollars(160), dollars(16)]),
        ]
        let index = SpendIndex(groups: groups, width: 2, clusters: ["prod-a": ["env": "prod"], "staging": ["env": "staging"]])
        let issue = try BudgetPolicyParser.parse(yaml: issueDocument, source: "issue")
        #expect(index.spend(in: issue.spec.scope) == [dollars(50), dollars(5)])
        #expect(index.spend(in: .init(clusterSelector: LabelSelector())) == [dollars(150), dollars(15)])
        let notProd = LabelSelector(matchExpressions: [.init(key: "env", operator: .notIn, values: ["prod"])])
        #expect(index.clusters(matching: notProd) == ["staging"])
        let byLabel = BudgetPolicy.Scope(clusterSelector: LabelSelector(), namespaceSelector: NamespaceSelector(matchLabels: [NamespaceSelector.nameLabel: "search"]))
        #expect(index.spend(in: byLabel) == [dollars(40), dollars(4)])
    }
}
