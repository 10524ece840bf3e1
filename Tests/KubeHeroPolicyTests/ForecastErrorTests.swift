import Foundation
import KubeHeroCore
import KubeHeroPolicy
import Testing

/// The forecast's error on synthetic spend histories: hourly spend over November 2026 (and
/// the days before it, for the run-rate window), forecast at several instants, compared with
/// the month's true total. docs/policies.md quotes these figures.
@Suite struct ForecastErrorTests {
    /// Dollars spent in hour `h` of the month (negative: before it).
    typealias History = @Sendable (Int64) -> Double

    static let histories: [(String, History)] = [
        ("steady $10/h", { _ in 10 }),
        ("daily cycle +-50%", { h in 10 * (1 + 0.5 * sin(2 * Double.pi * Double(h) / 24)) }),
        ("daily cycle +-50%, noise +-20%", { h in
            // A fixed pseudo-random sequence (SplitMix64 of the hour), so the figures repeat.
            var z = UInt64(bitPattern: h &+ 1_000_000) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            let noise = Double((z ^ (z >> 31)) % 10_000) / 10_000 * 0.4 - 0.2
            return 10 * (1 + 0.5 * sin(2 * Double.pi * Double(h) / 24)) * (1 + noise)
        }),
        ("growth +50% over the month", { h in 10 + 5 * Double(max(h, 0)) / 720 }),
        ("step x2 on day 15", { h in h < 14 * 24 ? 10 : 20 }),
    ]

    static let checkpointsDays: [Int64] = [3, 10, 20, 27]

    /// |forecast - actual| / actual at each checkpoint.
    static func errors(_ history: History) -> [Double] {
        let hours: Int64 = 30 * 24
        func money(_ d: Double) -> Money { Money(nanoUSD: Int64((d * 1e9).rounded())) }
        var perHour: [Int64: Money] = [:]
        for h in -48..<hours { perHour[h] = money(history(h)) }
        let actual = (0..<hours).reduce(Money.zero) { $0 + perHour[$1]! }
        let spec = BudgetPolicy.Spec(scope: .init(clusterSelector: LabelSelector()), ceiling: Ceiling(amount: actual, unit: .month))
        let policy = BudgetPolicy(name: "p", spec: spec)
        return checkpointsDays.map { day in
            let n = day * 24
            let now = november + n * hour
            let spent = (0..<n).reduce(Money.zero) { $0 + perHour[$1]! }
            let recent = (n - 24..<n).reduce(Money.zero) { $0 + perHour[$1]! }
            let period = PolicyEvaluator.period(of: policy, at: now)
            let f = Forecast.project(spent: spent, recent: recent, now: now, period: period, kind: .calendar)
            return abs(Double(f.nanoUSD - actual.nanoUSD)) / Double(actual.nanoUSD)
        }
    }

    @Test func errorsStayWithinTheirBounds() {
        var table: [String] = []
        for (name, history) in Self.histories {
            let e = Self.errors(history)
            table.append("\(name): " + zip(Self.checkpointsDays, e).map { "day \($0): \((($1 * 10_000).rounded() / 100))%" }.joined(separator: ", "))
        }
        print("forecast error (|forecast - actual| / actual):\n" + table.joined(separator: "\n"))
        let e = Dictionary(uniqueKeysWithValues: Self.histories.map { ($0.0, Self.errors($0.1)) })
        #expect(e["steady $10/h"]!.allSatisfy { $0 < 0.0001 })
        #expect(e["daily cycle +-50%"]!.allSatisfy { $0 < 0.0001 })  // whole days: the cycle cancels
        #expect(e["daily cycle +-50%, noise +-20%"]!.allSatisfy { $0 < 0.05 })
        // A trend is followed with a lag: under-forecast early, accurate near the end.
        let growth = e["growth +50% over the month"]!
        #expect(growth.allSatisfy { $0 < 0.2 })
        #expect(growth.last! < 0.01)
        // Before the step nothing can know it; from the day after it the rate has caught up.
        #expect(e["step x2 on day 15"]![2...].allSatisfy { $0 < 0.0001 })
        #expect(e["step x2 on day 15"]![1] > 0.2)
    }
}
