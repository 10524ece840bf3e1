import KubeHeroCore

/// Where a node's rates came from, so every cost can be explained.
public enum RateSource: Hashable, Sendable, CustomStringConvertible {
    /// The catalog's price for (cloud, region, instance type, capacity type).
    case catalog(cloud: String, region: String, instanceType: String, capacityType: CapacityType)
    /// A spot node whose spot price the catalog does not know: priced on-demand.
    case catalogOnDemandForSpot(cloud: String, region: String, instanceType: String)
    /// The default rate card, with the reason no catalog price applied.
    case defaultRateCard(reason: String)

    public var description: String {
        switch self {
        case .catalog(let c, let r, let t, let cap): "catalog \(c)/\(r)/\(t) \(cap.rawValue)"
        case .catalogOnDemandForSpot(let c, let r, let t): "catalog \(c)/\(r)/\(t) on-demand (no spot price known)"
        case .defaultRateCard(let reason): "default rate card (\(reason))"
        }
    }
}

/// The rates a node's usage is priced with.
public struct NodeRates: Hashable, Sendable {
    public var cpuCoreHour: Money
    public var ramGiBHour: Money
    /// Egress per GiB, indexed by `NetworkClass.allCases` order.
    public var egressPerGiB: [Money]
    public var source: RateSource

    public init(cpuCoreHour: Money, ramGiBHour: Money, egressPerGiB: [Money], source: RateSource) {
        self.cpuCoreHour = cpuCoreHour
        self.ramGiBHour = ramGiBHour
        self.egressPerGiB = egressPerGiB
        self.source = source
    }
}

/// Resolves the rates for a node. The full pricing engine (its own issue) will implement
/// this with versioned catalogs and node annotations; the hub only depends on this protocol.
public protocol PriceBook: Sendable {
    func rates(cloud: Cloud, region: String, node: NodeInfo) -> NodeRates
}

/// A `PriceBook` over one `PricingCatalog`.
///
/// A node's hourly price is split into CPU-core-hour and RAM-GiB-hour rates in the ratio of
/// the default rate card (OpenCost's method), so that a fully requested node costs exactly its
/// hourly price:
///
///     k = price / (vcpu * cpuDefault + memGiB * ramDefault)
///     cpuCoreHour = k * cpuDefault,  ramGiBHour = k * ramDefault
public struct CatalogPriceBook: PriceBook {
    public let catalog: PricingCatalog
    private let defaultCPU: Int64
    private let defaultRAM: Int64
    private let defaultEgress: [Money]
    private let egressByCloud: [String: [Money]]

    public init(catalog: PricingCatalog) throws(ValidationError) {
        try catalog.validate()
        self.catalog = catalog
        defaultCPU = Money(decimalUSD: catalog.defaultRates.cpuCoreHourUSD)!.nanoUSD
        defaultRAM = Money(decimalUSD: catalog.defaultRates.ramGiBHourUSD)!.nanoUSD
        defaultEgress = Self.egress(catalog.defaultEgressPerGiBUSD, fallback: nil)
        var byCloud = [String: [Money]]()
        for (cloud, prices) in catalog.clouds {
            byCloud[cloud] = Self.egress(prices.egressPerGiBUSD, fallback: defaultEgress)
        }
        egressByCloud = byCloud
    }

    private static func egress(_ rates: [String: String], fallback: [Money]?) -> [Money] {
        NetworkClass.allCases.enumerated().map { i, cls in
            if let text = rates[cls.rawValue], let m = Money(decimalUSD: text) { return m }
            return fallback?[i] ?? .zero
        }
    }

    public func rates(cloud: Cloud, region: String, node: NodeInfo) -> NodeRates {
        let egress = egressByCloud[cloud.rawValue] ?? defaultEgress
        func fallback(_ reason: String) -> NodeRates {
            NodeRates(
                cpuCoreHour: Money(nanoUSD: defaultCPU), ramGiBHour: Money(nanoUSD: defaultRAM),
                egressPerGiB: egress, source: .defaultRateCard(reason: reason)
            )
        }
        guard !node.instanceType.isEmpty else { return fallback("node reports no instance type") }
        guard let prices = catalog.clouds[cloud.rawValue] else { return fallback("no catalog for cloud \(cloud.rawValue)") }
        let nodeRegion = node.region.isEmpty ? region : node.region
        guard let types = prices.regions[nodeRegion] else { return fallback("no \(cloud.rawValue) prices for region \(nodeRegion)") }
        guard let type = types[node.instanceType] else {
            return fallback("instance type \(node.instanceType) not in the \(cloud.rawValue)/\(nodeRegion) catalog")
        }
        var source = RateSource.catalog(cloud: cloud.rawValue, region: nodeRegion, instanceType: node.instanceType, capacityType: node.capacityType)
        var priceText = type.onDemandHourlyUSD
        if node.capacityType == .spot {
            if let spot = type.spotHourlyUSD {
                priceText = spot
            } else {
                source = .catalogOnDemandForSpot(cloud: cloud.rawValue, region: nodeRegion, instanceType: node.instanceType)
            }
        }
        let price = Int128(Money(decimalUSD: priceText)!.nanoUSD)
        let (cpu, ram) = Self.split(
            hourlyNanoUSD: price, vcpuMilli: Int128((type.vcpu * 1000).rounded()),
            memoryMilliGiB: Int128((type.memoryGiB * 1000).rounded()), cpuDefault: Int128(defaultCPU), ramDefault: Int128(defaultRAM)
        )
        return NodeRates(cpuCoreHour: Money(nanoUSD: Int64(cpu)), ramGiBHour: Money(nanoUSD: Int64(ram)), egressPerGiB: egress, source: source)
    }

    /// Splits a node's hourly price into per-core-hour and per-GiB-hour rates (nano-USD).
    static func split(hourlyNanoUSD price: Int128, vcpuMilli: Int128, memoryMilliGiB: Int128, cpuDefault: Int128, ramDefault: Int128) -> (Int128, Int128) {
        let weight = vcpuMilli * cpuDefault + memoryMilliGiB * ramDefault
        guard weight > 0 else { return (0, 0) }
        // cpuRate = price * cpuDefault / weight * 1000 (weights are in milli-units).
        let cpu = Int128.scaled(price * 1000, by: cpuDefault, over: weight)
        let ram = Int128.scaled(price * 1000, by: ramDefault, over: weight)
        return (cpu, ram)
    }
}

/// Cost of usage at given rates: CPU and RAM at max(request, usage), network per class.
/// All arithmetic is integer with 128-bit intermediates; each component is rounded once.
public enum Allocation {
    static let coreNanosPerHour: Int128 = 3_600 * 1_000_000_000
    static let byteSecondsPerGiBHour: Int128 = 1_073_741_824 * 3_600
    static let bytesPerGiB: Int128 = 1_073_741_824

    public static func cost(of usage: Usage, at rates: NodeRates) -> Cost {
        let cpuBasis = Int128(max(usage.cpuCoreNanos, usage.cpuRequestCoreNanos))
        let ramBasis = Int128(max(usage.memoryByteSeconds, usage.memoryRequestByteSeconds))
        let cpu = Int128.scaled(cpuBasis, by: Int128(rates.cpuCoreHour.nanoUSD), over: coreNanosPerHour)
        let ram = Int128.scaled(ramBasis, by: Int128(rates.ramGiBHour.nanoUSD), over: byteSecondsPerGiBHour)
        var network = [Money]()
        network.reserveCapacity(NetworkClass.allCases.count)
        for i in 0..<NetworkClass.allCases.count {
            let c = Int128.scaled(Int128(usage.networkEgressBytes[i]), by: Int128(rates.egressPerGiB[i].nanoUSD), over: bytesPerGiB)
            network.append(Money(nanoUSD: Int64(clamping: c)))
        }
        return Cost(cpu: Money(nanoUSD: Int64(clamping: cpu)), ram: Money(nanoUSD: Int64(clamping: ram)), networkByClass: network)
    }
}
