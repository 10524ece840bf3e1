import KubeHeroCore

/// Spend forecast to the end of a period, from the recent run rate.
///
/// Method: the run rate is the spend of the trailing 24 hours (hourly rollups, the current
/// hour counted for the part of it that has passed) divided by the time they cover; the
/// forecast is the spend so far plus that rate over what is left of the period. For a
/// rolling period it is the rate over the whole window. A whole day smooths the daily cycle
/// most workloads have; the price is a lag of about half a day behind a trend. The error on
/// synthetic histories (steady, daily cycle, growth, a step) is measured by
/// `ForecastErrorTests` and given in docs/policies.md.
public enum Forecast {
    /// The trailing window the run rate is taken over.
    public static let windowMillis: Int64 = 24 * 3_600_000

    /// Start of the run-rate window at `now`: 24 hours before, rounded down to the hour
    /// (hourly rollups answer it).
    public static func windowStart(now: Int64) -> Int64 {
        BudgetPeriod.floor(now - windowMillis, BudgetPeriod.hour)
    }

    /// The projected spend at the end of `period`.
    /// - Parameters:
    ///   - spent: spend so far in the period.
    ///   - recent: spend in [`windowStart(now:)`, now).
    public static func project(spent: Money, recent: Money, now: Int64, period: BudgetPeriod, kind: BudgetPolicy.PeriodKind) -> Money {
        let covered = max(now - windowStart(now: now), 1)
        let horizon: Int64
        switch kind {
        case .calendar: horizon = max(period.endMillis - now, 0)
        case .rolling: horizon = period.endMillis - period.startMillis
        }
        let projected = Int128.scaled(Int128(recent.nanoUSD), by: Int128(horizon), over: Int128(covered))
        let base = kind == .calendar ? Int128(spent.nanoUSD) : 0
        return Money(nanoUSD: Int64(clamping: base + projected))
    }
}
