import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A pricing catalog as stored in `pricing/*.json` (schema `pricing/catalog.schema.json`):
/// per cloud, region and instance type the shape and hourly price of a node; egress per GiB by
/// class; block storage per GiB-month by class; and a default rate card for what no catalog
/// knows. Prices are decimal strings (`"0.0416"`) so that no price passes through floating point.
///
/// One file may hold one cloud (`pricing/aws.json`) or several; `merging(_:)` combines them
/// into the catalog a price version holds.
public struct PricingCatalog: Codable, Sendable, Hashable {
    public static let schemaVersion = 2
    /// Hours in a month, OpenCost's convention for turning monthly prices into hourly ones.
    public static let hoursPerMonth: Int64 = 730
    /// A node priced above this per hour is a typo, not a price.
    public static let maxNodeHourlyUSD: Int64 = 1000

    /// Prices for what no catalog knows: a node is priced at these rates times its capacity.
    public struct RateCard: Codable, Sendable, Hashable {
        public var cpuCoreHourUSD: String
        public var ramGiBHourUSD: String
        public var gpuHourUSD: String
        public var storageGiBHourUSD: String

        public init(cpuCoreHourUSD: String, ramGiBHourUSD: String, gpuHourUSD: String, storageGiBHourUSD: String) {
            self.cpuCoreHourUSD = cpuCoreHourUSD
            self.ramGiBHourUSD = ramGiBHourUSD
            self.gpuHourUSD = gpuHourUSD
            self.storageGiBHourUSD = storageGiBHourUSD
        }
    }

    public struct InstanceType: Codable, Sendable, Hashable {
        public var vcpu: Double
        public var memoryGiB: Double
        public var gpus: Int?
        public var gpuModel: String?
        public var onDemandHourlyUSD: String
        public var spotHourlyUSD: String?

        public init(
            vcpu: Double, memoryGiB: Double, gpus: Int? = nil, gpuModel: String? = nil,
            onDemandHourlyUSD: String, spotHourlyUSD: String? = nil
        ) {
            self.vcpu = vcpu
            self.memoryGiB = memoryGiB
            self.gpus = gpus
            self.gpuModel = gpuModel
            self.onDemandHourlyUSD = onDemandHourlyUSD
            self.spotHourlyUSD = spotHourlyUSD
        }
    }

    public struct CloudPrices: Codable, Sendable, Hashable {
        /// Where this cloud's prices came from and when; filled from the file when absent.
        public var source: String?
        public var date: String?
        /// This cloud's rate card; the catalog's `defaultRates` when absent.
        public var defaultRates: RateCard?
        /// Egress USD per GiB by class: `in-zone`, `cross-zone`, `cross-region`, `internet`.
        public var egressPerGiBUSD: [String: String]
        /// Block storage USD per GiB-month by storage class (`gp3`, `pd-balanced`, ...).
        public var storagePerGiBMonthUSD: [String: String]
        /// The class a claim without (or with an unknown) storage class is priced at.
        public var defaultStorageClass: String
        /// USD per GPU-hour by GPU model, where the cloud prices GPUs on their own: the GPU
        /// share of a node's price is then taken out before CPU and RAM are split.
        public var gpuHourlyUSD: [String: String]?
        /// region -> instance type -> shape and price.
        public var regions: [String: [String: InstanceType]]

        public init(
            source: String? = nil, date: String? = nil, defaultRates: RateCard? = nil, egressPerGiBUSD: [String: String],
            storagePerGiBMonthUSD: [String: String], defaultStorageClass: String, gpuHourlyUSD: [String: String]? = nil,
            regions: [String: [String: InstanceType]]
        ) {
            self.source = source
            self.date = date
            self.defaultRates = defaultRates
            self.egressPerGiBUSD = egressPerGiBUSD
            self.storagePerGiBMonthUSD = storagePerGiBMonthUSD
            self.defaultStorageClass = defaultStorageClass
            self.gpuHourlyUSD = gpuHourlyUSD
            self.regions = regions
        }
    }

    public var schemaVersion: Int
    /// Where the prices came from and when they were taken.
    public var source: String
    public var date: String
    public var defaultRates: RateCard
    /// Egress by class for clusters whose cloud has no section.
    public var defaultEgressPerGiBUSD: [String: String]
    public var clouds: [String: CloudPrices]

    public init(
        schemaVersion: Int = PricingCatalog.schemaVersion, source: String, date: String, defaultRates: RateCard,
        defaultEgressPerGiBUSD: [String: String], clouds: [String: CloudPrices]
    ) {
        self.schemaVersion = schemaVersion
        self.source = source
        self.date = date
        self.defaultRates = defaultRates
        self.defaultEgressPerGiBUSD = defaultEgressPerGiBUSD
        self.clouds = clouds
    }

    /// OpenCost's default rate card (its `default.json`: CPU $0.031611/core-hour, RAM
    /// $0.004237/GiB-hour, GPU $0.95/hour, storage $0.04/GiB-month): used when no catalog is
    /// configured, and for clusters of a cloud no catalog covers.
    public static let builtIn = PricingCatalog(
        source: "built-in default rate card (OpenCost defaults)",
        date: "2024-01-01",
        defaultRates: RateCard(cpuCoreHourUSD: "0.031611", ramGiBHourUSD: "0.004237", gpuHourUSD: "0.95", storageGiBHourUSD: "0.000054795"),
        defaultEgressPerGiBUSD: ["in-zone": "0", "cross-zone": "0.01", "cross-region": "0.02", "internet": "0.09"],
        clouds: [:]
    )

    // MARK: Loading

    /// Reads and checks a catalog file; errors name the file, the JSON path and the reason.
    public static func load(path: String) throws(CatalogError) -> PricingCatalog {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CatalogError(file: path, path: "$", "cannot read pricing catalog: \(error)")
        }
        return try decode(data, file: path)
    }

    /// Reads every `*.json` catalog in a directory (not the schema) and merges them in name order.
    public static func load(directory: String) throws(CatalogError) -> PricingCatalog {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".schema.json") }.sorted()
        } catch {
            throw CatalogError(file: directory, path: "$", "cannot list pricing catalogs: \(error)")
        }
        guard !names.isEmpty else { throw CatalogError(file: directory, path: "$", "no *.json pricing catalogs in this directory") }
        var merged: PricingCatalog?
        for name in names {
            let next = try load(path: directory + "/" + name)
            merged = merged.map { $0.merging(next) } ?? next
        }
        return merged!
    }

    /// Decodes and checks catalog JSON; `file` names where it came from in errors.
    public static func decode(_ data: Data, file: String) throws(CatalogError) -> PricingCatalog {
        if data.count > 64 << 20 { throw CatalogError(file: file, path: "$", "pricing catalog larger than 64 MiB") }
        // The version first, so that an old catalog gets a message about its version rather
        // than about the first field it lacks.
        struct Version: Decodable { var schemaVersion: Int? }
        if let v = try? JSONDecoder().decode(Version.self, from: data), let version = v.schemaVersion, version != schemaVersion {
            throw CatalogError(
                file: file, path: "$.schemaVersion",
                "unsupported version \(version), expected \(schemaVersion) (see pricing/catalog.schema.json; version 1's single catalog.json became pricing/aws.json, gcp.json and azure.json)"
            )
        }
        var catalog: PricingCatalog
        do {
            catalog = try JSONDecoder().decode(PricingCatalog.self, from: data)
        } catch {
            let (path, reason) = describe(error)
            throw CatalogError(file: file, path: path, reason)
        }
        do throws(CatalogError) {
            try catalog.validate()
        } catch {
            throw CatalogError(file: file, path: error.path, error.reason)
        }
        for (name, var cloud) in catalog.clouds {
            cloud.source = cloud.source ?? catalog.source
            cloud.date = cloud.date ?? catalog.date
            catalog.clouds[name] = cloud
        }
        return catalog
    }

    /// `other`'s clouds replace this catalog's clouds of the same name; its rate card, egress
    /// defaults, source and date replace this catalog's.
    public func merging(_ other: PricingCatalog) -> PricingCatalog {
        var out = other
        for (name, cloud) in clouds where out.clouds[name] == nil { out.clouds[name] = cloud }
        if source != other.source { out.source = "\(source); \(other.source)" }
        return out
    }

    // MARK: Validation

    /// Every price parses exactly and is not negative, no node costs more than $1000/h, every
    /// shape is plausible. Errors carry the JSON path of the bad value.
    public func validate() throws(CatalogError) {
        if schemaVersion != Self.schemaVersion {
            throw CatalogError(path: "$.schemaVersion", "unsupported version \(schemaVersion), expected \(Self.schemaVersion)")
        }
        if source.isEmpty { throw CatalogError(path: "$.source", "must say where the prices came from") }
        if date.isEmpty { throw CatalogError(path: "$.date", "must say when the prices were taken") }
        try Self.check(defaultRates, path: "$.defaultRates")
        try Self.checkEgress(defaultEgressPerGiBUSD, path: "$.defaultEgressPerGiBUSD")
        for (cloud, prices) in clouds.sorted(by: { $0.key < $1.key }) {
            let base = "$.clouds" + JSONPath.key(cloud)
            if Cloud(rawValue: cloud) == nil || cloud == Cloud.other.rawValue {
                throw CatalogError(path: base, "unknown cloud; expected one of aws, gcp, azure")
            }
            if let rates = prices.defaultRates { try Self.check(rates, path: base + ".defaultRates") }
            try Self.checkEgress(prices.egressPerGiBUSD, path: base + ".egressPerGiBUSD")
            for (cls, price) in prices.storagePerGiBMonthUSD.sorted(by: { $0.key < $1.key }) {
                try Self.checkPrice(price, path: base + ".storagePerGiBMonthUSD" + JSONPath.key(cls), maxUSD: 10, unit: "per GiB-month")
            }
            if prices.storagePerGiBMonthUSD[prices.defaultStorageClass] == nil {
                throw CatalogError(path: base + ".defaultStorageClass", "\"\(prices.defaultStorageClass)\" is not a key of storagePerGiBMonthUSD")
            }
            for (model, price) in (prices.gpuHourlyUSD ?? [:]).sorted(by: { $0.key < $1.key }) {
                try Self.checkPrice(price, path: base + ".gpuHourlyUSD" + JSONPath.key(model), maxUSD: 100, unit: "per GPU-hour")
            }
            if prices.regions.isEmpty { throw CatalogError(path: base + ".regions", "must list at least one region") }
            for (region, types) in prices.regions.sorted(by: { $0.key < $1.key }) {
                for (type, t) in types.sorted(by: { $0.key < $1.key }) {
                    try Self.check(t, path: base + ".regions" + JSONPath.key(region) + JSONPath.key(type))
                }
            }
        }
    }

    static func check(_ t: InstanceType, path: String) throws(CatalogError) {
        if !(t.vcpu > 0 && t.vcpu <= 1024) { throw CatalogError(path: path + ".vcpu", "must be in (0, 1024], got \(t.vcpu)") }
        if !(t.memoryGiB > 0 && t.memoryGiB <= 65_536) { throw CatalogError(path: path + ".memoryGiB", "must be in (0, 65536], got \(t.memoryGiB)") }
        if let gpus = t.gpus, !(0...64).contains(gpus) { throw CatalogError(path: path + ".gpus", "must be 0-64, got \(gpus)") }
        if (t.gpus ?? 0) > 0, (t.gpuModel ?? "").isEmpty { throw CatalogError(path: path + ".gpuModel", "a type with GPUs must name their model") }
        let onDemand = try checkPrice(t.onDemandHourlyUSD, path: path + ".onDemandHourlyUSD", maxUSD: maxNodeHourlyUSD, unit: "per hour")
        if let spot = t.spotHourlyUSD {
            let s = try checkPrice(spot, path: path + ".spotHourlyUSD", maxUSD: maxNodeHourlyUSD, unit: "per hour")
            if s > onDemand { throw CatalogError(path: path + ".spotHourlyUSD", "\(s) is more than the on-demand price \(onDemand): swapped?") }
        }
    }

    static func check(_ rates: RateCard, path: String) throws(CatalogError) {
        try checkPrice(rates.cpuCoreHourUSD, path: path + ".cpuCoreHourUSD", maxUSD: 10, unit: "per core-hour")
        try checkPrice(rates.ramGiBHourUSD, path: path + ".ramGiBHourUSD", maxUSD: 10, unit: "per GiB-hour")
        try checkPrice(rates.gpuHourUSD, path: path + ".gpuHourUSD", maxUSD: 100, unit: "per GPU-hour")
        try checkPrice(rates.storageGiBHourUSD, path: path + ".storageGiBHourUSD", maxUSD: 1, unit: "per GiB-hour")
        if Money(decimalUSD: rates.cpuCoreHourUSD)!.nanoUSD == 0 && Money(decimalUSD: rates.ramGiBHourUSD)!.nanoUSD == 0 {
            throw CatalogError(path: path, "CPU and RAM rates cannot both be zero: they set the ratio a node's price is split in")
        }
    }

    @discardableResult
    static func checkPrice(_ text: String, path: String, maxUSD: Int64, unit: String) throws(CatalogError) -> Money {
        guard let m = Money(decimalUSD: text) else {
            throw CatalogError(path: path, "\"\(text)\" is not a decimal dollar amount with at most 9 decimals")
        }
        if m.nanoUSD < 0 { throw CatalogError(path: path, "must not be negative") }
        if m.nanoUSD > maxUSD * Money.nanosPerDollar {
            throw CatalogError(path: path, "\(m) \(unit) is over $\(maxUSD): a typo?")
        }
        return m
    }

    static func checkEgress(_ rates: [String: String], path: String) throws(CatalogError) {
        for cls in EgressClass.allCases where rates[cls.rawValue] == nil {
            throw CatalogError(path: path, "missing class \"\(cls.rawValue)\"; give all of \(EgressClass.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for (cls, price) in rates.sorted(by: { $0.key < $1.key }) {
            if EgressClass(rawValue: cls) == nil {
                throw CatalogError(path: path + JSONPath.key(cls), "unknown class; expected one of \(EgressClass.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try checkPrice(price, path: path + JSONPath.key(cls), maxUSD: 10, unit: "per GiB")
        }
    }

    private static func describe(_ error: any Error) -> (String, String) {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return (JSONPath.of(ctx.codingPath), "missing field \"\(key.stringValue)\"")
        case DecodingError.typeMismatch(let type, let ctx):
            return (JSONPath.of(ctx.codingPath), "expected \(Self.jsonKind(type))")
        case DecodingError.valueNotFound(let type, let ctx):
            return (JSONPath.of(ctx.codingPath), "expected \(Self.jsonKind(type)), found null")
        case DecodingError.dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? ("$", "not valid JSON") : (JSONPath.of(ctx.codingPath), ctx.debugDescription)
        default:
            return ("$", "\(error)")
        }
    }

    private static func jsonKind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string (prices are decimal strings such as \"0.192\")"
        case is Double.Type, is Int.Type: "a number"
        default: "an object"
        }
    }
}

/// Egress classes a catalog prices. The agent measures `same-node` and `same-zone` (both priced
/// in-zone), `cross-zone`, `cross-region` and `internet`.
public enum EgressClass: String, CaseIterable, Sendable, Hashable, Codable {
    case inZone = "in-zone"
    case crossZone = "cross-zone"
    case crossRegion = "cross-region"
    case internet = "internet"

    /// The catalog class a measured network class is priced at.
    public init(_ measured: NetworkClass) {
        switch measured {
        case .sameNode, .sameZone: self = .inZone
        case .crossZone: self = .crossZone
        case .crossRegion: self = .crossRegion
        case .internet: self = .internet
        }
    }
}

/// A catalog that broke a rule: which file, where in it (a JSON path such as
/// `$.clouds.aws.regions["us-east-1"]["m5.xlarge"].onDemandHourlyUSD`), and why.
public struct CatalogError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var path: String
    public var reason: String

    public init(file: String = "", path: String, _ reason: String) {
        self.file = file
        self.path = path
        self.reason = reason
    }

    public var description: String { file.isEmpty ? "\(path): \(reason)" : "\(file): \(path): \(reason)" }

    /// The same error as a `ValidationError` (for the REST API), the path as its field.
    public var validationError: ValidationError {
        ValidationError(field: file.isEmpty ? path : "\(file) \(path)", reason)
    }
}

/// JSON paths as people read them: `$.a.b["us-east-1"][2]`.
enum JSONPath {
    static func key(_ k: String) -> String {
        let plain = !k.isEmpty && k.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
            && !(k.first!.isNumber)
        return plain ? "." + k : "[\"\(k)\"]"
    }

    static func of(_ codingPath: [any CodingKey]) -> String {
        "$" + codingPath.map { k in k.intValue.map { "[\($0)]" } ?? key(k.stringValue) }.joined()
    }
}
