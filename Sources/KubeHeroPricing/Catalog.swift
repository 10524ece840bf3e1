import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A pricing catalog as stored in `pricing/*.json`: hourly prices per cloud, region and
/// instance type, and a default rate card for what the catalog does not know. Prices are
/// decimal strings (`"0.0416"`) so that no price passes through floating point.
///
/// This is the minimal catalog of the hub issue; the full engine (versions, storage classes,
/// GPU, air-gapped import) replaces it behind the same `PriceBook` interface.
public struct PricingCatalog: Codable, Sendable, Hashable {
    public struct RateCard: Codable, Sendable, Hashable {
        public var cpuCoreHourUSD: String
        public var ramGiBHourUSD: String
        public init(cpuCoreHourUSD: String, ramGiBHourUSD: String) {
            self.cpuCoreHourUSD = cpuCoreHourUSD
            self.ramGiBHourUSD = ramGiBHourUSD
        }
    }

    public struct InstanceType: Codable, Sendable, Hashable {
        public var vcpu: Double
        public var memoryGiB: Double
        public var onDemandHourlyUSD: String
        public var spotHourlyUSD: String?
        public init(vcpu: Double, memoryGiB: Double, onDemandHourlyUSD: String, spotHourlyUSD: String? = nil) {
            self.vcpu = vcpu
            self.memoryGiB = memoryGiB
            self.onDemandHourlyUSD = onDemandHourlyUSD
            self.spotHourlyUSD = spotHourlyUSD
        }
    }

    public struct CloudPrices: Codable, Sendable, Hashable {
        /// Egress USD per GiB by destination class (`same-node`, `same-zone`, `cross-zone`, `internet`).
        public var egressPerGiBUSD: [String: String]
        /// region -> instance type -> price.
        public var regions: [String: [String: InstanceType]]
        public init(egressPerGiBUSD: [String: String], regions: [String: [String: InstanceType]]) {
            self.egressPerGiBUSD = egressPerGiBUSD
            self.regions = regions
        }
    }

    public var schemaVersion: Int
    /// Where the prices came from and when they were taken.
    public var source: String
    public var date: String
    public var defaultRates: RateCard
    public var defaultEgressPerGiBUSD: [String: String]
    public var clouds: [String: CloudPrices]

    public init(
        schemaVersion: Int = 1, source: String, date: String, defaultRates: RateCard,
        defaultEgressPerGiBUSD: [String: String], clouds: [String: CloudPrices]
    ) {
        self.schemaVersion = schemaVersion
        self.source = source
        self.date = date
        self.defaultRates = defaultRates
        self.defaultEgressPerGiBUSD = defaultEgressPerGiBUSD
        self.clouds = clouds
    }

    /// OpenCost's default rate card (its `default.json`): used when no catalog is configured.
    public static let builtIn = PricingCatalog(
        source: "built-in default rate card (OpenCost defaults)",
        date: "2024-01-01",
        defaultRates: RateCard(cpuCoreHourUSD: "0.031611", ramGiBHourUSD: "0.004237"),
        defaultEgressPerGiBUSD: ["same-node": "0", "same-zone": "0", "cross-zone": "0.01", "internet": "0.09"],
        clouds: [:]
    )

    /// Reads and checks a catalog file; errors name the file and the bad field.
    public static func load(path: String) throws(ValidationError) -> PricingCatalog {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError(field: path, "cannot read pricing catalog: \(error)")
        }
        if data.count > 64 << 20 { throw ValidationError(field: path, "pricing catalog larger than 64 MiB") }
        let catalog: PricingCatalog
        do {
            catalog = try JSONDecoder().decode(PricingCatalog.self, from: data)
        } catch {
            throw ValidationError(field: path, "not a pricing catalog: \(Self.describe(error))")
        }
        do throws(ValidationError) {
            try catalog.validate()
        } catch {
            throw error.nested(in: path)
        }
        return catalog
    }

    /// Every price parses exactly, is not negative, and no node costs more than $1000/h.
    public func validate() throws(ValidationError) {
        if schemaVersion != 1 { throw ValidationError(field: "schemaVersion", "unsupported version \(schemaVersion), expected 1") }
        try Self.checkPrice(defaultRates.cpuCoreHourUSD, field: "defaultRates.cpuCoreHourUSD")
        try Self.checkPrice(defaultRates.ramGiBHourUSD, field: "defaultRates.ramGiBHourUSD")
        try Self.checkEgress(defaultEgressPerGiBUSD, field: "defaultEgressPerGiBUSD")
        for (cloud, prices) in clouds.sorted(by: { $0.key < $1.key }) {
            if Cloud(rawValue: cloud) == nil {
                throw ValidationError(field: "clouds[\(cloud)]", "unknown cloud; expected one of \(Cloud.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try Self.checkEgress(prices.egressPerGiBUSD, field: "clouds[\(cloud)].egressPerGiBUSD")
            for (region, types) in prices.regions {
                for (type, t) in types {
                    let field = "clouds[\(cloud)].regions[\(region)][\(type)]"
                    if !(t.vcpu > 0 && t.vcpu <= 1024) { throw ValidationError(field: field + ".vcpu", "must be in (0, 1024]") }
                    if !(t.memoryGiB > 0 && t.memoryGiB <= 65_536) { throw ValidationError(field: field + ".memoryGiB", "must be in (0, 65536]") }
                    try Self.checkPrice(t.onDemandHourlyUSD, field: field + ".onDemandHourlyUSD", maxUSD: 1000)
                    if let spot = t.spotHourlyUSD { try Self.checkPrice(spot, field: field + ".spotHourlyUSD", maxUSD: 1000) }
                }
            }
        }
    }

    static func checkPrice(_ text: String, field: String, maxUSD: Int64 = 1000) throws(ValidationError) {
        guard let m = Money(decimalUSD: text) else {
            throw ValidationError(field: field, "\"\(text)\" is not a decimal dollar amount with at most 9 decimals")
        }
        if m.nanoUSD < 0 { throw ValidationError(field: field, "must not be negative") }
        if m.nanoUSD > maxUSD * Money.nanosPerDollar {
            throw ValidationError(field: field, "\(m) per hour is over $\(maxUSD): a typo?")
        }
    }

    static func checkEgress(_ rates: [String: String], field: String) throws(ValidationError) {
        for (cls, price) in rates {
            if NetworkClass(rawValue: cls) == nil {
                throw ValidationError(field: "\(field)[\(cls)]", "unknown class; expected same-node, same-zone, cross-zone or internet")
            }
            try checkPrice(price, field: "\(field)[\(cls)]", maxUSD: 10)
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            return "missing field \((ctx.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "\(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx):
            return "\(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
