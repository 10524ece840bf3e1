import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Price versions in force over time: each import of a catalog is a version with an effective
/// time, and a sample is priced with the newest version whose effective time is not after it.
///
/// ```swift
/// let schedule = PriceSchedule(versions: [(id: 1, effectiveAtMillis: 0, catalog: old), (id: 2, effectiveAtMillis: t, catalog: new)])
/// schedule.book(at: t - 1)?.priceVersion   // 1
/// ```
public struct PriceSchedule: Sendable {
    public struct Entry: Sendable {
        public var id: Int64
        public var effectiveAtMillis: Int64
        public var book: CatalogPriceBook
    }

    /// Sorted by effective time, then id (a later import with the same time wins).
    public let entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries.sorted { ($0.effectiveAtMillis, $0.id) < ($1.effectiveAtMillis, $1.id) }
    }

    /// Versions from stored catalogs; a stored catalog that no longer validates is an error
    /// naming its version.
    public init(versions: [(id: Int64, effectiveAtMillis: Int64, catalog: PricingCatalog)]) throws(CatalogError) {
        var entries = [Entry]()
        for v in versions {
            do throws(CatalogError) {
                entries.append(Entry(id: v.id, effectiveAtMillis: v.effectiveAtMillis, book: try CatalogPriceBook(catalog: v.catalog, priceVersion: v.id)))
            } catch {
                throw CatalogError(file: "price version \(v.id)", path: error.path, error.reason)
            }
        }
        self.init(entries: entries)
    }

    public static let empty = PriceSchedule(entries: [])

    /// The version in force at `millis`, or nil before the first one.
    public func book(at millis: Int64) -> CatalogPriceBook? {
        // Binary search for the last entry with effectiveAt <= millis.
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].effectiveAtMillis <= millis { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : entries[lo - 1].book
    }

    /// The newest version by effective time.
    public var latest: Entry? { entries.last }
}

extension PricingCatalog {
    /// Canonical JSON (sorted keys), as a price version stores it.
    public func canonicalJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings, numbers and dictionaries cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// What changed from `old` to this catalog, one line per change, in a stable order:
    /// `+ aws/us-east-1/m7i.xlarge 0.2016`, `- ...`, `~ aws/us-east-1/m5.xlarge on-demand 0.192 -> 0.2`.
    public func changes(from old: PricingCatalog?) -> [String] {
        guard let old else { return ["+ first price version: \(clouds.keys.sorted().joined(separator: ", ")) (\(instanceTypeCount) instance type prices)"] }
        var out = [String]()
        func compare(_ what: String, _ a: String?, _ b: String?) {
            if a != b { out.append("~ \(what) \(a ?? "none") -> \(b ?? "none")") }
        }
        for (name, keyPath) in [("cpuCoreHourUSD", \RateCard.cpuCoreHourUSD), ("ramGiBHourUSD", \.ramGiBHourUSD), ("gpuHourUSD", \.gpuHourUSD), ("storageGiBHourUSD", \.storageGiBHourUSD)] {
            compare("defaultRates.\(name)", old.defaultRates[keyPath: keyPath], defaultRates[keyPath: keyPath])
        }
        for cls in EgressClass.allCases {
            compare("defaultEgress \(cls.rawValue)", old.defaultEgressPerGiBUSD[cls.rawValue], defaultEgressPerGiBUSD[cls.rawValue])
        }
        for cloud in Set(old.clouds.keys).union(clouds.keys).sorted() {
            guard let new = clouds[cloud] else { out.append("- \(cloud) (whole cloud)"); continue }
            guard let was = old.clouds[cloud] else { out.append("+ \(cloud) (whole cloud)"); continue }
            for cls in EgressClass.allCases {
                compare("\(cloud) egress \(cls.rawValue)", was.egressPerGiBUSD[cls.rawValue], new.egressPerGiBUSD[cls.rawValue])
            }
            for cls in Set(was.storagePerGiBMonthUSD.keys).union(new.storagePerGiBMonthUSD.keys).sorted() {
                compare("\(cloud) storage \(cls)", was.storagePerGiBMonthUSD[cls], new.storagePerGiBMonthUSD[cls])
            }
            for region in Set(was.regions.keys).union(new.regions.keys).sorted() {
                let a = was.regions[region] ?? [:], b = new.regions[region] ?? [:]
                for type in Set(a.keys).union(b.keys).sorted() {
                    let label = "\(cloud)/\(region)/\(type)"
                    switch (a[type], b[type]) {
                    case (nil, let t?): out.append("+ \(label) \(t.onDemandHourlyUSD)")
                    case (let t?, nil): out.append("- \(label) \(t.onDemandHourlyUSD)")
                    case (let x?, let y?):
                        compare("\(label) on-demand", x.onDemandHourlyUSD, y.onDemandHourlyUSD)
                        compare("\(label) spot", x.spotHourlyUSD, y.spotHourlyUSD)
                        if (x.vcpu, x.memoryGiB, x.gpus ?? 0) != (y.vcpu, y.memoryGiB, y.gpus ?? 0) { out.append("~ \(label) shape") }
                    case (nil, nil): break
                    }
                }
            }
        }
        return out
    }

    /// Number of (cloud, region, instance type) prices.
    public var instanceTypeCount: Int {
        clouds.values.reduce(0) { $0 + $1.regions.values.reduce(0) { $0 + $1.count } }
    }
}
