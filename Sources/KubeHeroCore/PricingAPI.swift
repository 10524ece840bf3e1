// REST types of the pricing endpoints (`/v1/pricing...`), shared by the hub and the CLI.
// docs/openapi.yaml describes the same shapes.

/// `GET /v1/pricing`: the rates in force for a node or an instance type, and where they came from.
public struct PricingRatesResponse: Sendable, Codable, Hashable {
    public struct Capacity: Sendable, Codable, Hashable {
        public var cpuCores: Double
        public var memoryGiB: Double
        public var gpus: Int64
        public var gpuModel: String?
        public init(cpuCores: Double, memoryGiB: Double, gpus: Int64, gpuModel: String?) {
            self.cpuCores = cpuCores
            self.memoryGiB = memoryGiB
            self.gpus = gpus
            self.gpuModel = gpuModel
        }
    }

    /// The price version the rates come from (0: the built-in rate card, before any import).
    public var priceVersion: Int64
    public var at: String
    public var cloud: String
    public var region: String
    public var instanceType: String
    public var capacityType: String
    public var node: String?
    /// `annotation`, `catalog`, `catalog-on-demand-for-spot` or `default-rate-card`.
    public var source: String
    public var sourceDetail: String
    /// The node's price per hour, absent when neither its price nor its capacity is known.
    public var nodeHourlyUSD: String?
    public var cpuCoreHourUSD: String
    public var ramGiBHourUSD: String
    public var gpuHourUSD: String
    public var capacity: Capacity
    public var egressPerGiBUSD: [String: String]
    public var storagePerGiBMonthUSD: [String: String]
    public var defaultStorageGiBMonthUSD: String
    public var warnings: [String]

    public init(
        priceVersion: Int64, at: String, cloud: String, region: String, instanceType: String, capacityType: String, node: String?,
        source: String, sourceDetail: String, nodeHourlyUSD: String?, cpuCoreHourUSD: String, ramGiBHourUSD: String,
        gpuHourUSD: String, capacity: Capacity, egressPerGiBUSD: [String: String], storagePerGiBMonthUSD: [String: String],
        defaultStorageGiBMonthUSD: String, warnings: [String]
    ) {
        self.priceVersion = priceVersion
        self.at = at
        self.cloud = cloud
        self.region = region
        self.instanceType = instanceType
        self.capacityType = capacityType
        self.node = node
        self.source = source
        self.sourceDetail = sourceDetail
        self.nodeHourlyUSD = nodeHourlyUSD
        self.cpuCoreHourUSD = cpuCoreHourUSD
        self.ramGiBHourUSD = ramGiBHourUSD
        self.gpuHourUSD = gpuHourUSD
        self.capacity = capacity
        self.egressPerGiBUSD = egressPerGiBUSD
        self.storagePerGiBMonthUSD = storagePerGiBMonthUSD
        self.defaultStorageGiBMonthUSD = defaultStorageGiBMonthUSD
        self.warnings = warnings
    }
}

/// One price version as the API shows it.
public struct PriceVersionInfo: Sendable, Codable, Hashable {
    public var id: Int64
    public var effectiveAt: String
    public var importedAt: String
    public var origin: String
    /// What changed against the version before, one line each (`+`, `-`, `~`).
    public var changes: [String]

    public init(id: Int64, effectiveAt: String, importedAt: String, origin: String, changes: [String]) {
        self.id = id
        self.effectiveAt = effectiveAt
        self.importedAt = importedAt
        self.origin = origin
        self.changes = changes
    }
}

public struct PriceVersionList: Sendable, Codable, Hashable {
    public var versions: [PriceVersionInfo]
    public init(versions: [PriceVersionInfo]) { self.versions = versions }
}

/// `POST /v1/pricing/versions` (the body is the catalog JSON itself).
public struct PriceImportResponse: Sendable, Codable, Hashable {
    /// False when the catalog equals the latest version: nothing was stored.
    public var imported: Bool
    public var version: PriceVersionInfo

    public init(imported: Bool, version: PriceVersionInfo) {
        self.imported = imported
        self.version = version
    }
}

/// `POST /v1/pricing/reprice`: price a past window again with a price version.
public struct RepriceRequest: Sendable, Codable, Hashable {
    /// RFC 3339; the window is [from, to), whole minutes.
    public var from: String
    public var to: String
    public var cluster: String?
    /// The version to price with; the latest when absent.
    public var version: Int64?

    public init(from: String, to: String, cluster: String? = nil, version: Int64? = nil) {
        self.from = from
        self.to = to
        self.cluster = cluster
        self.version = version
    }
}

public struct RepriceResponse: Sendable, Codable, Hashable {
    public var version: Int64
    public var nodeMinutes: Int
    public var rowsChanged: Int
    public var totalBefore: String
    public var totalAfter: String
    public var totalBeforeNanoUSD: Int64
    public var totalAfterNanoUSD: Int64

    public init(version: Int64, nodeMinutes: Int, rowsChanged: Int, totalBefore: String, totalAfter: String, totalBeforeNanoUSD: Int64, totalAfterNanoUSD: Int64) {
        self.version = version
        self.nodeMinutes = nodeMinutes
        self.rowsChanged = rowsChanged
        self.totalBefore = totalBefore
        self.totalAfter = totalAfter
        self.totalBeforeNanoUSD = totalBeforeNanoUSD
        self.totalAfterNanoUSD = totalAfterNanoUSD
    }
}
