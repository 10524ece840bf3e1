// Types of the REST API (JSON bodies), shared by the hub and the CLI so that both sides agree
// by construction. The OpenAPI document docs/openapi.yaml describes the same shapes.

/// Cloud a cluster runs in; decides which pricing catalog applies.
public enum Cloud: String, Sendable, Codable, Hashable, CaseIterable {
    case aws, gcp, azure, other
}

/// A registered cluster as the API shows it.
public struct ClusterInfo: Hashable, Sendable, Codable {
    public var name: String
    public var cloud: Cloud
    public var region: String
    public var labels: [String: String]
    public var createdAt: String
    /// Serial number (hex) of the cluster's current client certificate.
    public var certificateSerial: String
    public var certificateNotAfter: String
    /// Unix-millis time of the last committed batch, if any.
    public var lastBatchAt: String?

    public init(
        name: String, cloud: Cloud, region: String, labels: [String: String], createdAt: String,
        certificateSerial: String, certificateNotAfter: String, lastBatchAt: String? = nil
    ) {
        self.name = name
        self.cloud = cloud
        self.region = region
        self.labels = labels
        self.createdAt = createdAt
        self.certificateSerial = certificateSerial
        self.certificateNotAfter = certificateNotAfter
        self.lastBatchAt = lastBatchAt
    }
}

/// `POST /v1/clusters`: register a cluster and sign its CSR.
public struct CreateClusterRequest: Sendable, Codable, Hashable {
    public var name: String
    public var cloud: Cloud
    public var region: String
    public var labels: [String: String]?
    /// PEM-encoded PKCS#10 certificate signing request made by the CLI.
    public var csr: String
    /// Certificate validity in days; default 365.
    public var validityDays: Int?

    public init(name: String, cloud: Cloud, region: String, labels: [String: String]? = nil, csr: String, validityDays: Int? = nil) {
        self.name = name
        self.cloud = cloud
        self.region = region
        self.labels = labels
        self.csr = csr
        self.validityDays = validityDays
    }
}

/// `POST /v1/clusters/{name}/rotate-cert`: a new CSR for an existing cluster.
public struct RotateCertificateRequest: Sendable, Codable, Hashable {
    public var csr: String
    public var validityDays: Int?

    public init(csr: String, validityDays: Int? = nil) {
        self.csr = csr
        self.validityDays = validityDays
    }
}

/// The answer to a registration or rotation: the signed certificate and the CA to trust.
public struct ClusterCertificateResponse: Sendable, Codable, Hashable {
    public var cluster: ClusterInfo
    public var certificate: String
    public var caCertificate: String

    public init(cluster: ClusterInfo, certificate: String, caCertificate: String) {
        self.cluster = cluster
        self.certificate = certificate
        self.caCertificate = caCertificate
    }
}

public struct ClusterList: Sendable, Codable, Hashable {
    public var clusters: [ClusterInfo]
    public init(clusters: [ClusterInfo]) { self.clusters = clusters }
}

/// One group's totals in `GET /v1/costs`. Money is given both exact (nano-USD integers) and as
/// decimal dollar strings.
public struct CostGroupResult: Sendable, Codable, Hashable {
    public var name: String
    public var cpuCost: String
    public var ramCost: String
    public var networkCost: String
    public var totalCost: String
    public var totalCostNanoUSD: Int64
    public var networkCostByClass: [String: String]?
    public var cpuCoreHours: Double
    public var cpuRequestCoreHours: Double
    public var ramGiBHours: Double
    public var ramRequestGiBHours: Double
    /// Usage over max(usage, request), cost-weighted over CPU and RAM; 0...1.
    public var efficiency: Double
    public var gpuCost: String?
    /// Persistent volumes at their requested size.
    public var storageCost: String?
    /// The part of `totalCost` that is nodes' idle cost (the whole of the `__idle__` group).
    public var idleCost: String?
    public var idleCostNanoUSD: Int64?

    public init(
        name: String, cpuCost: String, ramCost: String, networkCost: String, totalCost: String,
        totalCostNanoUSD: Int64, networkCostByClass: [String: String]? = nil, cpuCoreHours: Double,
        cpuRequestCoreHours: Double, ramGiBHours: Double, ramRequestGiBHours: Double, efficiency: Double,
        gpuCost: String? = nil, storageCost: String? = nil, idleCost: String? = nil, idleCostNanoUSD: Int64? = nil
    ) {
        self.gpuCost = gpuCost
        self.storageCost = storageCost
        self.idleCost = idleCost
        self.idleCostNanoUSD = idleCostNanoUSD
        self.name = name
        self.cpuCost = cpuCost
        self.ramCost = ramCost
        self.networkCost = networkCost
        self.totalCost = totalCost
        self.totalCostNanoUSD = totalCostNanoUSD
        self.networkCostByClass = networkCostByClass
        self.cpuCoreHours = cpuCoreHours
        self.cpuRequestCoreHours = cpuRequestCoreHours
        self.ramGiBHours = ramGiBHours
        self.ramRequestGiBHours = ramRequestGiBHours
        self.efficiency = efficiency
    }
}

/// One step of `GET /v1/costs` (a single step unless `step` is given).
public struct CostStepResult: Sendable, Codable, Hashable {
    public var start: String
    public var end: String
    public var groups: [CostGroupResult]

    public init(start: String, end: String, groups: [CostGroupResult]) {
        self.start = start
        self.end = end
        self.groups = groups
    }
}

public struct CostsResponse: Sendable, Codable, Hashable {
    public var window: String
    public var aggregate: String
    public var resolution: String
    public var steps: [CostStepResult]

    public init(window: String, aggregate: String, resolution: String, steps: [CostStepResult]) {
        self.window = window
        self.aggregate = aggregate
        self.resolution = resolution
        self.steps = steps
    }
}

/// One point of `GET /v1/series`.
public struct SeriesPointResult: Sendable, Codable, Hashable {
    public var start: String
    public var totalCost: String
    public var totalCostNanoUSD: Int64
    public var cpuCost: String
    public var ramCost: String
    public var networkCost: String
    public var cpuCores: Double
    public var memoryBytes: Double

    public init(
        start: String, totalCost: String, totalCostNanoUSD: Int64, cpuCost: String, ramCost: String,
        networkCost: String, cpuCores: Double, memoryBytes: Double
    ) {
        self.start = start
        self.totalCost = totalCost
        self.totalCostNanoUSD = totalCostNanoUSD
        self.cpuCost = cpuCost
        self.ramCost = ramCost
        self.networkCost = networkCost
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
    }
}

public struct SeriesResponse: Sendable, Codable, Hashable {
    public var window: String
    public var step: String
    public var resolution: String
    public var series: String
    public var points: [SeriesPointResult]

    public init(window: String, step: String, resolution: String, series: String, points: [SeriesPointResult]) {
        self.window = window
        self.step = step
        self.resolution = resolution
        self.series = series
        self.points = points
    }
}

/// Every API error body: `{"error": {"code": "...", "message": "...", "field": "..."}}`.
public struct APIErrorBody: Sendable, Codable, Hashable {
    public struct Detail: Sendable, Codable, Hashable {
        public var code: String
        public var message: String
        public var field: String?
        public init(code: String, message: String, field: String? = nil) {
            self.code = code
            self.message = message
            self.field = field
        }
    }

    public var error: Detail
    public init(error: Detail) { self.error = error }
}

// MARK: - Tokens

/// `POST /v1/tokens`: a new API token.
public struct CreateTokenRequest: Sendable, Codable, Hashable {
    public var name: String
    /// `admin` or `viewer`.
    public var role: String

    public init(name: String, role: String) {
        self.name = name
        self.role = role
    }
}

/// A token as listed: never its secret.
public struct TokenInfo: Sendable, Codable, Hashable {
    public var id: String
    public var name: String
    public var role: String
    public var createdAt: String
    public var revokedAt: String?

    public init(id: String, name: String, role: String, createdAt: String, revokedAt: String? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// The answer to `POST /v1/tokens`: the only time the secret is shown.
public struct CreatedToken: Sendable, Codable, Hashable {
    public var token: TokenInfo
    public var secret: String

    public init(token: TokenInfo, secret: String) {
        self.token = token
        self.secret = secret
    }
}

public struct TokenList: Sendable, Codable, Hashable {
    public var tokens: [TokenInfo]
    public init(tokens: [TokenInfo]) { self.tokens = tokens }
}

// MARK: - Audit log

/// One signed checkpoint: the tree size it covers and the C2SP signed note.
public struct AuditCheckpointInfo: Sendable, Codable, Hashable {
    public var size: UInt64
    public var note: String
    public init(size: UInt64, note: String) {
        self.size = size
        self.note = note
    }
}

public struct AuditCheckpointList: Sendable, Codable, Hashable {
    public var checkpoints: [AuditCheckpointInfo]
    public init(checkpoints: [AuditCheckpointInfo]) { self.checkpoints = checkpoints }
}

/// `GET /v1/audit/proof/inclusion`: hashes are lowercase hex, RFC 9162 order.
public struct InclusionProofResponse: Sendable, Codable, Hashable {
    public var index: UInt64
    public var treeSize: UInt64
    public var leafHash: String
    public var hashes: [String]
    public init(index: UInt64, treeSize: UInt64, leafHash: String, hashes: [String]) {
        self.index = index
        self.treeSize = treeSize
        self.leafHash = leafHash
        self.hashes = hashes
    }
}

/// `GET /v1/audit/proof/consistency`.
public struct ConsistencyProofResponse: Sendable, Codable, Hashable {
    public var from: UInt64
    public var to: UInt64
    public var hashes: [String]
    public init(from: UInt64, to: UInt64, hashes: [String]) {
        self.from = from
        self.to = to
        self.hashes = hashes
    }
}

/// `GET /v1/audit/keys`: the log's origin and every verifier key it has signed with.
public struct AuditKeysResponse: Sendable, Codable, Hashable {
    public var origin: String
    public var keys: [String]
    public init(origin: String, keys: [String]) {
        self.origin = origin
        self.keys = keys
    }
}
