import KubeHeroCore

/// Where a node's rates came from, so every cost can be explained.
public enum RateSource: Hashable, Sendable, CustomStringConvertible {
    /// The node's `kubehero.io/node-hourly-usd` annotation.
    case nodeAnnotation(hourlyUSD: String)
    /// The catalog's price for (cloud, region, instance type, capacity type).
    case catalog(cloud: String, region: String, instanceType: String, capacityType: CapacityType)
    /// A spot node whose spot price the catalog does not know: priced on-demand.
    case catalogOnDemandForSpot(cloud: String, region: String, instanceType: String)
    /// The default rate card times the node's capacity, with the reason no catalog price applied.
    case defaultRateCard(reason: String)

    /// A short machine-readable tag: `annotation`, `catalog`, `catalog-on-demand-for-spot`, `default-rate-card`.
    public var tag: String {
        switch self {
        case .nodeAnnotation: "annotation"
        case .catalog: "catalog"
        case .catalogOnDemandForSpot: "catalog-on-demand-for-spot"
        case .defaultRateCard: "default-rate-card"
        }
    }

    public var description: String {
        switch self {
        case .nodeAnnotation(let v): "node annotation \(NodeInfo.hourlyPriceAnnotation)=\(v)"
        case .catalog(let c, let r, let t, let cap):
            "catalog \(c)/\(r)/\(t) \(cap == .spot ? "spot" : "on-demand")\(cap == .unknown ? " (capacity type unknown)" : "")"
        case .catalogOnDemandForSpot(let c, let r, let t): "catalog \(c)/\(r)/\(t) on-demand (no spot price known)"
        case .defaultRateCard(let reason): "default rate card (\(reason))"
        }
    }
}

/// What a node holds, as its price is split over it.
public struct NodeCapacity: Hashable, Sendable {
    public var cpuMillicores: Int64
    public var memoryBytes: Int64
    public var gpus: Int64
    public var gpuModel: String

    public init(cpuMillicores: Int64, memoryBytes: Int64, gpus: Int64 = 0, gpuModel: String = "") {
        self.cpuMillicores = cpuMillicores
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.gpuModel = gpuModel
    }

    var known: Bool { cpuMillicores > 0 || memoryBytes > 0 || gpus > 0 }
}

/// The rates a node's usage is priced with, and the node's own price.
public struct NodeRates: Hashable, Sendable {
    /// The node's price per hour; nil when neither a price nor the node's capacity is known
    /// (its idle cost cannot be told then, and is reported as zero).
    public var nodeHourly: Money?
    public var capacity: NodeCapacity
    public var cpuCoreHour: Money
    public var ramGiBHour: Money
    public var gpuHour: Money
    /// Egress per GiB, indexed by `NetworkClass.allCases` order.
    public var egressPerGiB: [Money]
    /// Block storage per GiB-month by storage class, and for claims of another class.
    public var storageGiBMonthByClass: [String: Money]
    public var defaultStorageGiBMonth: Money
    public var source: RateSource
    /// The price version the rates come from (0: none stored yet).
    public var priceVersion: Int64
    /// What was ignored on the way, e.g. an absurd annotation price.
    public var warnings: [String]

    public init(
        nodeHourly: Money? = nil, capacity: NodeCapacity = NodeCapacity(cpuMillicores: 0, memoryBytes: 0),
        cpuCoreHour: Money, ramGiBHour: Money, gpuHour: Money = .zero, egressPerGiB: [Money],
        storageGiBMonthByClass: [String: Money] = [:], defaultStorageGiBMonth: Money = .zero,
        source: RateSource, priceVersion: Int64 = 0, warnings: [String] = []
    ) {
        self.nodeHourly = nodeHourly
        self.capacity = capacity
        self.cpuCoreHour = cpuCoreHour
        self.ramGiBHour = ramGiBHour
        self.gpuHour = gpuHour
        self.egressPerGiB = egressPerGiB
        self.storageGiBMonthByClass = storageGiBMonthByClass
        self.defaultStorageGiBMonth = defaultStorageGiBMonth
        self.source = source
        self.priceVersion = priceVersion
        self.warnings = warnings
    }

    /// Storage price per GiB-month of a claim's class (the default class when unknown).
    public func storageGiBMonth(_ storageClass: String) -> Money {
        storageGiBMonthByClass[storageClass] ?? defaultStorageGiBMonth
    }
}

/// Resolves the rates for a node. The hub depends only on this protocol.
public protocol PriceBook: Sendable {
    func rates(cloud: Cloud, region: String, node: NodeInfo) -> NodeRates
}

/// A `PriceBook` over one `PricingCatalog`: rate resolution and the node price split.
///
/// Resolution, in order, each result tagged with its `RateSource`:
/// 1. the node's `kubehero.io/node-hourly-usd` annotation (refused above $1000/h as a typo);
/// 2. the catalog by (cloud, region, instance type), spot or on-demand from the node's labels;
/// 3. the default rate card times the node's capacity.
///
/// The split (OpenCost's method): a known per-GPU price is taken out first; the rest is split
/// over CPU, RAM (and GPUs of unknown price) in the ratio of the default rate card, so that a
/// fully requested node costs its hourly price:
///
///     k = price / (cores * cpuDefault + GiB * ramDefault + gpus * gpuDefault)
///     cpuCoreHour = k * cpuDefault,  ramGiBHour = k * ramDefault,  gpuHour = k * gpuDefault
public struct CatalogPriceBook: PriceBook {
    public let catalog: PricingCatalog
    public let priceVersion: Int64

    public init(catalog: PricingCatalog, priceVersion: Int64 = 0) throws(CatalogError) {
        try catalog.validate()
        self.catalog = catalog
        self.priceVersion = priceVersion
    }

    private static func money(_ text: String) -> Money { Money(decimalUSD: text) ?? .zero }

    /// The rate card that applies in `cloud`.
    public func rateCard(cloud: Cloud) -> PricingCatalog.RateCard {
        catalog.clouds[cloud.rawValue]?.defaultRates ?? catalog.defaultRates
    }

    public func rates(cloud: Cloud, region: String, node: NodeInfo) -> NodeRates {
        let prices = catalog.clouds[cloud.rawValue]
        let card = rateCard(cloud: cloud)
        let egressTable = prices?.egressPerGiBUSD ?? catalog.defaultEgressPerGiBUSD
        let egress = NetworkClass.allCases.map { Self.money(egressTable[EgressClass($0).rawValue] ?? "0") }
        var storage = [String: Money]()
        for (cls, text) in prices?.storagePerGiBMonthUSD ?? [:] { storage[cls] = Self.money(text) }
        let defaultStorage = prices.flatMap { storage[$0.defaultStorageClass] }
            ?? Money(nanoUSD: Self.money(card.storageGiBHourUSD).nanoUSD * PricingCatalog.hoursPerMonth)
        var warnings = [String]()

        // What the catalog knows about this node's type, if anything.
        let nodeRegion = node.region.isEmpty ? region : node.region
        var listed: PricingCatalog.InstanceType?
        var missing = ""
        if node.instanceType.isEmpty {
            missing = "node reports no instance type"
        } else if let prices {
            if let types = prices.regions[nodeRegion] {
                listed = types[node.instanceType]
                if listed == nil { missing = "instance type \(node.instanceType) not in the \(cloud.rawValue)/\(nodeRegion) catalog" }
            } else {
                missing = "no \(cloud.rawValue) prices for region \(nodeRegion.isEmpty ? "(none given)" : nodeRegion)"
            }
        } else {
            missing = "no catalog for cloud \(cloud.rawValue)"
        }

        let capacity: NodeCapacity
        if let listed {
            capacity = NodeCapacity(
                cpuMillicores: Int64((listed.vcpu * 1000).rounded()), memoryBytes: Int64((listed.memoryGiB * 1_073_741_824).rounded()),
                gpus: Int64(listed.gpus ?? 0), gpuModel: listed.gpuModel ?? ""
            )
        } else {
            capacity = NodeCapacity(
                cpuMillicores: Int64(node.cpuCapacityMillicores), memoryBytes: Int64(clamping: node.memoryCapacityBytes), gpus: Int64(node.gpuCount)
            )
        }
        let knownGPUPrice = prices?.gpuHourlyUSD?[capacity.gpuModel].map(Self.money)

        func split(_ price: Money, _ source: RateSource) -> NodeRates {
            let (cpu, ram, gpu) = Self.split(hourly: price, capacity: capacity, card: card, knownGPUPrice: knownGPUPrice)
            return NodeRates(
                nodeHourly: price, capacity: capacity, cpuCoreHour: cpu, ramGiBHour: ram, gpuHour: gpu, egressPerGiB: egress,
                storageGiBMonthByClass: storage, defaultStorageGiBMonth: defaultStorage, source: source,
                priceVersion: priceVersion, warnings: warnings
            )
        }

        // 1. The node's own annotation.
        if !node.hourlyPriceOverride.isEmpty {
            do throws(ValidationError) {
                let price = try Self.parseNodePrice(node.hourlyPriceOverride, field: NodeInfo.hourlyPriceAnnotation)
                if capacity.known { return split(price, .nodeAnnotation(hourlyUSD: node.hourlyPriceOverride)) }
                warnings.append("\(NodeInfo.hourlyPriceAnnotation) ignored: the node's capacity is unknown, so its price cannot be split")
            } catch {
                warnings.append("\(error.description); ignored")
            }
        }
        // 2. The catalog.
        if let listed {
            var source = RateSource.catalog(cloud: cloud.rawValue, region: nodeRegion, instanceType: node.instanceType, capacityType: node.capacityType)
            var text = listed.onDemandHourlyUSD
            if node.capacityType == .spot {
                if let spot = listed.spotHourlyUSD {
                    text = spot
                } else {
                    source = .catalogOnDemandForSpot(cloud: cloud.rawValue, region: nodeRegion, instanceType: node.instanceType)
                }
            }
            return split(Self.money(text), source)
        }
        // 3. The default rate card times capacity.
        let cpu = Self.money(card.cpuCoreHourUSD), ram = Self.money(card.ramGiBHourUSD), gpu = Self.money(card.gpuHourUSD)
        var hourly: Money?
        if capacity.known {
            let nano = Int128.scaled(Int128(capacity.cpuMillicores), by: Int128(cpu.nanoUSD), over: 1000)
                + Int128.scaled(Int128(capacity.memoryBytes), by: Int128(ram.nanoUSD), over: 1_073_741_824)
                + Int128(capacity.gpus) * Int128(gpu.nanoUSD)
            hourly = Money(nanoUSD: Int64(clamping: nano))
        } else {
            missing += "; node capacity unknown, so its idle cost is not known"
        }
        return NodeRates(
            nodeHourly: hourly, capacity: capacity, cpuCoreHour: cpu, ramGiBHour: ram, gpuHour: gpu, egressPerGiB: egress,
            storageGiBMonthByClass: storage, defaultStorageGiBMonth: defaultStorage, source: .defaultRateCard(reason: missing),
            priceVersion: priceVersion, warnings: warnings
        )
    }

    /// A node's hourly price as a person wrote it (annotation, `--price`): exact, not negative,
    /// and at most $1000/h — anything more is taken for a typo.
    public static func parseNodePrice(_ text: String, field: String) throws(ValidationError) -> Money {
        guard let m = Money(decimalUSD: text.trimmingWhitespace) else {
            throw ValidationError(field: field, "\"\(text)\" is not a decimal dollar amount per hour (e.g. 0.192)")
        }
        if m.nanoUSD < 0 { throw ValidationError(field: field, "\"\(text)\" is negative") }
        if m.nanoUSD > PricingCatalog.maxNodeHourlyUSD * Money.nanosPerDollar {
            throw ValidationError(field: field, "\(m) per hour is over $\(PricingCatalog.maxNodeHourlyUSD) per node: a typo?")
        }
        return m
    }

    /// Splits a node's hourly price into per-core-hour, per-GiB-hour and per-GPU-hour rates.
    static func split(hourly: Money, capacity: NodeCapacity, card: PricingCatalog.RateCard, knownGPUPrice: Money?) -> (Money, Money, Money) {
        let cpuDefault = Int128(money(card.cpuCoreHourUSD).nanoUSD)
        let ramDefault = Int128(money(card.ramGiBHourUSD).nanoUSD)
        let gpuDefault = Int128(money(card.gpuHourUSD).nanoUSD)
        var price = Int128(hourly.nanoUSD)
        let gpus = Int128(capacity.gpus)
        var gpuRate: Int128 = 0
        var gpuWeight: Int128 = 0
        if gpus > 0 {
            if let known = knownGPUPrice {
                // Taken out first, but never more than the whole node.
                gpuRate = min(Int128(known.nanoUSD), price / gpus)
                price -= gpuRate * gpus
            } else {
                gpuWeight = gpus * 1000 * gpuDefault
            }
        }
        // Weights in milli-units: milli-cores, milli-GiB, milli-GPUs.
        let memoryMilliGiB = Int128.scaled(Int128(capacity.memoryBytes), by: 1000, over: 1_073_741_824)
        let weight = Int128(capacity.cpuMillicores) * cpuDefault + memoryMilliGiB * ramDefault + gpuWeight
        guard weight > 0 else { return (.zero, .zero, Money(nanoUSD: Int64(gpuRate))) }
        let cpu = Int128.scaled(price * 1000, by: cpuDefault, over: weight)
        let ram = Int128.scaled(price * 1000, by: ramDefault, over: weight)
        if gpuWeight > 0 { gpuRate = Int128.scaled(price * 1000, by: gpuDefault, over: weight) }
        return (Money(nanoUSD: Int64(cpu)), Money(nanoUSD: Int64(ram)), Money(nanoUSD: Int64(gpuRate)))
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
