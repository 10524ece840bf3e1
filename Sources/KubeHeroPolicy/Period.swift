import KubeHeroCore

/// The budget period a policy is evaluated over at one instant.
///
/// Calendar periods are UTC hours, days, ISO weeks (Monday 00:00), months and years; rolling
/// periods are the last `unit.rollingMillis` up to now, with their start rounded down to the
/// hour so that hourly rollups answer them (a rolling period is up to one hour longer than its
/// unit). Every period starts on an hour boundary.
public struct BudgetPeriod: Hashable, Sendable {
    public var startMillis: Int64
    /// The calendar period's end; for a rolling period, its start plus its length (so that
    /// `endMillis - startMillis` is the window a forecast fills at the current run rate).
    public var endMillis: Int64
    /// What identifies this period for "each threshold fires once per period": the calendar
    /// period's start; for rolling periods a constant (thresholds re-arm when spend falls below them).
    public var key: String

    public init(startMillis: Int64, endMillis: Int64, key: String) {
        self.startMillis = startMillis
        self.endMillis = endMillis
        self.key = key
    }

    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000

    /// The period of `kind` and `unit` that contains `now`.
    public static func containing(_ now: Int64, kind: BudgetPolicy.PeriodKind, unit: PeriodUnit) -> BudgetPeriod {
        switch kind {
        case .rolling:
            let start = floor(now - unit.rollingMillis, hour)
            return BudgetPeriod(startMillis: start, endMillis: start + unit.rollingMillis + hour, key: "rolling")
        case .calendar:
            let (start, end) = calendarBounds(now, unit)
            return BudgetPeriod(startMillis: start, endMillis: end, key: Timestamp.rfc3339(millis: start))
        }
    }

    private static func calendarBounds(_ now: Int64, _ unit: PeriodUnit) -> (Int64, Int64) {
        switch unit {
        case .hour:
            let s = floor(now, hour)
            return (s, s + hour)
        case .day:
            let s = floor(now, day)
            return (s, s + day)
        case .week:
            // 1970-01-01 was a Thursday: Monday-aligned weeks start 3 days later.
            let monday: Int64 = 4 * day
            let s = floor(now - monday, 7 * day) + monday
            return (s, s + 7 * day)
        case .month:
            let (y, m, _) = Timestamp.civil(fromDays: floor(now, day) / day)
            let s = Timestamp.daysFromCivil(y, m, 1) * day
            let (ny, nm) = m == 12 ? (y + 1, Int64(1)) : (y, m + 1)
            return (s, Timestamp.daysFromCivil(ny, nm, 1) * day)
        case .year:
            let (y, _, _) = Timestamp.civil(fromDays: floor(now, day) / day)
            return (Timestamp.daysFromCivil(y, 1, 1) * day, Timestamp.daysFromCivil(y + 1, 1, 1) * day)
        }
    }

    /// `t` rounded down to a multiple of `step` (also before 1970).
    static func floor(_ t: Int64, _ step: Int64) -> Int64 {
        let r = t % step
        return r < 0 ? t - r - step : t - r
    }
}
