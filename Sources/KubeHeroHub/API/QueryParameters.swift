import KubeHeroCore
import KubeHeroStore

/// The query parameters of `/v1/costs` and `/v1/series`, parsed and checked. Pure, so the
/// window arithmetic is tested without a server.
struct CostQueryParameters: Sendable {
    var range: TimeRange
    var windowText: String
    var aggregation: Aggregation
    var filter: RowFilter
    var stepMillis: Int64?
    var resolution: Resolution

    /// Parameters that are not known are refused rather than ignored, so a typo such as
    /// `namepsace=` does not silently return everything.
    static let costKeys: Set<String> = ["window", "aggregate", "cluster", "node", "namespace", "pod", "container", "step"]
    static let seriesKeys: Set<String> = ["window", "step", "cluster", "node", "namespace", "pod", "container"]

    /// - Parameters:
    ///   - query: the decoded query parameters (each at most once).
    ///   - minuteRetentionMillis: how far back 1-minute rows are kept; older ranges read hours.
    static func parse(
        _ query: [String: String], allowed: Set<String>, defaultAggregate: String?, nowMillis: Int64, minuteRetentionMillis: Int64
    ) throws(ValidationError) -> CostQueryParameters {
        if let unknown = query.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ValidationError(field: unknown, "unknown query parameter; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
        let windowText = query["window"] ?? "24h"
        let range = try parseWindow(windowText, nowMillis: nowMillis)

        var aggregation = Aggregation.namespace
        if let a = query["aggregate"] ?? defaultAggregate { aggregation = try Aggregation(parsing: a) }

        var filter = RowFilter()
        for (key, path) in [("cluster", \RowFilter.cluster), ("node", \.node), ("namespace", \.namespace), ("pod", \.pod), ("container", \.container)] {
            guard let v = query[key] else { continue }
            if v.isEmpty || v.utf8.count > 253 { throw ValidationError(field: key, "must be 1-253 characters") }
            filter[keyPath: path] = v
        }

        var step: Int64?
        if let s = query["step"] {
            let ms = try DurationText.parseMillis(s, field: "step")
            if ms < 60_000 || ms % 60_000 != 0 { throw ValidationError(field: "step", "must be a whole number of minutes (at least 1m), got \(s)") }
            let steps = (range.endUnixMillis - range.startUnixMillis + ms - 1) / ms
            if steps > 10_000 { throw ValidationError(field: "step", "\(s) makes \(steps) steps over window \(windowText); at most 10000") }
            step = ms
        }

        // Hourly rows answer exactly when every boundary is on the hour; they are also the
        // only rows left for ranges older than the minute retention.
        let hourAligned = range.startUnixMillis % 3_600_000 == 0 && range.endUnixMillis % 3_600_000 == 0 && (step ?? 3_600_000) % 3_600_000 == 0
        let beyondMinutes = range.startUnixMillis < nowMillis - minuteRetentionMillis
        let resolution: Resolution = hourAligned || beyondMinutes ? .hour : .minute
        return CostQueryParameters(range: range, windowText: windowText, aggregation: aggregation, filter: filter, stepMillis: step, resolution: resolution)
    }

    /// `24h` (ending now, rounded up to the minute; to the hour for windows of 2 days or more)
    /// or `START,END` as RFC 3339 timestamps.
    static func parseWindow(_ text: String, nowMillis: Int64) throws(ValidationError) -> TimeRange {
        if text.contains(",") {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, let start = Timestamp.parseRFC3339(parts[0]), let end = Timestamp.parseRFC3339(parts[1]) else {
                throw ValidationError(field: "window", "\"\(text)\" is not START,END in RFC 3339 (e.g. 2026-11-01T00:00:00Z,2026-11-08T00:00:00Z)")
            }
            if end <= start { throw ValidationError(field: "window", "end must be after start") }
            if end - start > 3_660 * 86_400_000 { throw ValidationError(field: "window", "longer than 10 years") }
            return TimeRange(startUnixMillis: start, endUnixMillis: end)
        }
        let length = try DurationText.parseMillis(text, field: "window")
        if length < 60_000 { throw ValidationError(field: "window", "must be at least 1m, got \(text)") }
        let unit: Int64 = length >= 2 * 86_400_000 ? 3_600_000 : 60_000
        let end = (nowMillis / unit + 1) * unit
        return TimeRange(startUnixMillis: end - length, endUnixMillis: end)
    }

    /// The steps of the range: one step for the whole range when no step was given.
    var steps: [TimeRange] {
        guard let step = stepMillis else { return [range] }
        var out = [TimeRange]()
        var s = range.startUnixMillis
        while s < range.endUnixMillis {
            out.append(TimeRange(startUnixMillis: s, endUnixMillis: min(s + step, range.endUnixMillis)))
            s += step
        }
        return out
    }
}

extension CostGroupResult {
    /// The API view of a store group: exact money plus human units.
    init(_ g: CostGroup) {
        let u = g.usage
        let cpuBasis = max(u.cpuCoreNanos, u.cpuRequestCoreNanos)
        let ramBasis = max(u.memoryByteSeconds, u.memoryRequestByteSeconds)
        let cpuCost = Double(g.cost.cpu.nanoUSD)
        let ramCost = Double(g.cost.ram.nanoUSD)
        var efficiency = 0.0
        if cpuCost + ramCost > 0 {
            let cpuEff = cpuBasis > 0 ? Double(u.cpuCoreNanos) / Double(cpuBasis) : 0
            let ramEff = ramBasis > 0 ? Double(u.memoryByteSeconds) / Double(ramBasis) : 0
            efficiency = (cpuEff * cpuCost + ramEff * ramCost) / (cpuCost + ramCost)
        }
        var byClass = [String: String]()
        for (i, cls) in NetworkClass.allCases.enumerated() { byClass[cls.rawValue] = g.cost.networkByClass[i].decimalString }
        self.init(
            name: g.name,
            cpuCost: g.cost.cpu.decimalString,
            ramCost: g.cost.ram.decimalString,
            networkCost: g.cost.network.decimalString,
            totalCost: g.cost.total.decimalString,
            totalCostNanoUSD: g.cost.total.nanoUSD,
            networkCostByClass: byClass,
            cpuCoreHours: Double(u.cpuCoreNanos) / 3.6e12,
            cpuRequestCoreHours: Double(u.cpuRequestCoreNanos) / 3.6e12,
            ramGiBHours: Double(u.memoryByteSeconds) / (1_073_741_824 * 3600),
            ramRequestGiBHours: Double(u.memoryRequestByteSeconds) / (1_073_741_824 * 3600),
            efficiency: efficiency,
            gpuCost: g.cost.gpu.decimalString,
            storageCost: g.cost.storage.decimalString,
            idleCost: g.idle.decimalString,
            idleCostNanoUSD: g.idle.nanoUSD
        )
    }
}
