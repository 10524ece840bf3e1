import KubeHeroCore
import KubeHeroStore

/// Answers cost queries from the coarsest rows that give the exact answer: hourly rollups for
/// the whole hours inside a range, 1-minute rows only for the partial hours at its ends. A
/// day's costs then read 24 hour rows per container instead of 1,440 minute rows; by namespace
/// or cluster, the store answers the whole hours from its namespace rollups (`NamespaceRollup`:
/// a row per namespace and day, and per namespace and hour around the whole days).
struct CostPlanner: Sendable {
    let store: any HubStore

    /// The resolution label and the totals per group over `range`. `preferred` is what the
    /// parameters allow: `.hour` when the range is hour-aligned or older than the minute rows.
    func costs(range: TimeRange, aggregation: Aggregation, filter: RowFilter, preferred: Resolution) async throws -> (String, [CostGroup]) {
        let hour: Int64 = 3_600_000
        let firstHour = (range.startUnixMillis + hour - 1) / hour * hour
        let lastHour = range.endUnixMillis / hour * hour
        if preferred == .hour || lastHour - firstHour < hour {
            return (preferred.rawValue, try await store.costs(CostQuery(range: range, aggregation: aggregation, filter: filter, resolution: preferred)))
        }
        let pieces: [(TimeRange, Resolution)] = [
            (TimeRange(startUnixMillis: range.startUnixMillis, endUnixMillis: firstHour), .minute),
            (TimeRange(startUnixMillis: firstHour, endUnixMillis: lastHour), .hour),
            (TimeRange(startUnixMillis: lastHour, endUnixMillis: range.endUnixMillis), .minute),
        ].filter { $0.0.endUnixMillis > $0.0.startUnixMillis }
        var merged = [String: CostGroup]()
        for (piece, resolution) in pieces {
            for g in try await store.costs(CostQuery(range: piece, aggregation: aggregation, filter: filter, resolution: resolution)) {
                if var existing = merged[g.name] {
                    existing.usage.add(g.usage)
                    existing.cost.add(g.cost)
                    existing.idle += g.idle
                    merged[g.name] = existing
                } else {
                    merged[g.name] = g
                }
            }
        }
        let label = pieces.count == 1 ? pieces[0].1.rawValue : "hour+minute"
        return (label, merged.values.sorted { ($0.cost.total, $1.name) > ($1.cost.total, $0.name) })
    }
}
