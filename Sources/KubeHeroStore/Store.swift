import KubeHeroAudit
import KubeHeroCore

/// A registered cluster as stored.
public struct ClusterRecord: Hashable, Sendable {
    public var name: String
    public var cloud: Cloud
    public var region: String
    public var labels: [String: String]
    public var createdAtMillis: Int64
    /// Set when the cluster was removed; a removed cluster's name may be registered again.
    public var removedAtMillis: Int64?

    public init(name: String, cloud: Cloud, region: String, labels: [String: String], createdAtMillis: Int64, removedAtMillis: Int64? = nil) {
        self.name = name
        self.cloud = cloud
        self.region = region
        self.labels = labels
        self.createdAtMillis = createdAtMillis
        self.removedAtMillis = removedAtMillis
    }
}

/// A client certificate the hub issued to a cluster.
public struct CertificateRecord: Hashable, Sendable {
    /// Serial number, lowercase hex without separators; unique across the hub.
    public var serialHex: String
    public var clusterName: String
    public var notBeforeMillis: Int64
    public var notAfterMillis: Int64
    public var pem: String
    public var revokedAtMillis: Int64?

    public init(serialHex: String, clusterName: String, notBeforeMillis: Int64, notAfterMillis: Int64, pem: String, revokedAtMillis: Int64? = nil) {
        self.serialHex = serialHex
        self.clusterName = clusterName
        self.notBeforeMillis = notBeforeMillis
        self.notAfterMillis = notAfterMillis
        self.pem = pem
        self.revokedAtMillis = revokedAtMillis
    }
}

/// An API bearer token. Only a hash of the secret is stored.
public struct TokenRecord: Hashable, Sendable {
    public enum Role: String, Sendable, Codable, Hashable {
        /// Everything, including registering clusters.
        case admin
        /// Read-only: costs, series, cluster list.
        case viewer
    }

    public var id: String
    public var name: String
    public var role: Role
    /// SHA-256 of the secret, lowercase hex.
    public var secretHashHex: String
    public var createdAtMillis: Int64
    public var revokedAtMillis: Int64?

    public init(id: String, name: String, role: Role, secretHashHex: String, createdAtMillis: Int64, revokedAtMillis: Int64? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.secretHashHex = secretHashHex
        self.createdAtMillis = createdAtMillis
        self.revokedAtMillis = revokedAtMillis
    }
}

/// Who a stored row belongs to. The cluster comes from the verified client certificate.
public struct ContainerKey: Hashable, Sendable {
    public var cluster: String
    public var node: String
    public var namespace: String
    public var pod: String
    public var container: String

    public init(cluster: String, node: String, namespace: String, pod: String, container: String) {
        self.cluster = cluster
        self.node = node
        self.namespace = namespace
        self.pod = pod
        self.container = container
    }
}

/// One container's usage and cost over one minute (or one hour, for rollups).
public struct UsageRow: Hashable, Sendable {
    public var key: ContainerKey
    /// The container's labels as last reported; used by `label:KEY` aggregation.
    public var labels: [String: String]
    /// Start of the minute (or hour), Unix milliseconds, aligned to the resolution.
    public var startMillis: Int64
    public var usage: Usage
    public var cost: Cost

    public init(key: ContainerKey, labels: [String: String], startMillis: Int64, usage: Usage, cost: Cost) {
        self.key = key
        self.labels = labels
        self.startMillis = startMillis
        self.usage = usage
        self.cost = cost
    }
}

/// Everything one acknowledged batch changes, committed in one transaction.
public struct IngestRecord: Hashable, Sendable {
    public var cluster: String
    public var agentInstanceID: String
    public var sequence: UInt64
    public var node: String
    public var receivedAtMillis: Int64
    public var windowStartMillis: Int64
    public var windowEndMillis: Int64
    public var sampleCount: Int
    public var droppedTicks: UInt64
    public var droppedBatches: UInt64
    /// The audit entry the batch adds (a reported gap), appended in the batch's transaction;
    /// nothing is appended for a duplicate.
    public var audit: AuditDraft?
    /// Per-container 1-minute rows. Rows for a (container, minute) that already exists are
    /// added to it (a minute can span two batches); the hourly rollup is updated likewise.
    public var rows: [UsageRow]
    /// The node's pricing inputs per minute the batch covers, kept for re-pricing. A minute
    /// that exists already gets the observed time added and the node's attributes replaced.
    public var nodeMinutes: [NodeMinuteRecord]

    public init(
        cluster: String, agentInstanceID: String, sequence: UInt64, node: String, receivedAtMillis: Int64,
        windowStartMillis: Int64, windowEndMillis: Int64, sampleCount: Int, droppedTicks: UInt64 = 0,
        droppedBatches: UInt64 = 0, audit: AuditDraft? = nil, rows: [UsageRow], nodeMinutes: [NodeMinuteRecord] = []
    ) {
        self.audit = audit
        self.nodeMinutes = nodeMinutes
        self.cluster = cluster
        self.agentInstanceID = agentInstanceID
        self.sequence = sequence
        self.node = node
        self.receivedAtMillis = receivedAtMillis
        self.windowStartMillis = windowStartMillis
        self.windowEndMillis = windowEndMillis
        self.sampleCount = sampleCount
        self.droppedTicks = droppedTicks
        self.droppedBatches = droppedBatches
        self.rows = rows
    }
}

/// What one node was, and how long it was observed, in one minute: the inputs its price
/// and its idle cost were computed from, so that a past window can be re-priced.
public struct NodeMinuteRecord: Hashable, Sendable {
    public var cluster: String
    /// Start of the minute, Unix milliseconds.
    public var startMillis: Int64
    public var node: NodeInfo
    /// Milliseconds of the minute the node's agent sampled.
    public var observedMillis: Int64
    /// The price version the minute was priced with (0: none).
    public var priceVersion: Int64

    public init(cluster: String, startMillis: Int64, node: NodeInfo, observedMillis: Int64, priceVersion: Int64) {
        self.cluster = cluster
        self.startMillis = startMillis
        self.node = node
        self.observedMillis = observedMillis
        self.priceVersion = priceVersion
    }
}

/// One import of a pricing catalog. Versions are never changed or deleted: a sample is priced
/// with the version in force at its time, and past costs change only by an explicit re-price.
public struct PriceVersionRecord: Hashable, Sendable {
    /// Assigned by the store on import (1, 2, ...); 0 before.
    public var id: Int64
    /// From when the version prices samples, Unix milliseconds.
    public var effectiveAtMillis: Int64
    public var importedAtMillis: Int64
    /// Where the catalog came from: a file, a URL, or the API.
    public var origin: String
    /// The whole catalog, as canonical JSON.
    public var catalogJSON: String
    /// What changed against the version before it, one line per change.
    public var changes: [String]

    public init(id: Int64 = 0, effectiveAtMillis: Int64, importedAtMillis: Int64, origin: String, catalogJSON: String, changes: [String]) {
        self.id = id
        self.effectiveAtMillis = effectiveAtMillis
        self.importedAtMillis = importedAtMillis
        self.origin = origin
        self.catalogJSON = catalogJSON
        self.changes = changes
    }
}

/// What a re-price changed.
public struct RepriceSummary: Hashable, Sendable {
    public var nodeMinutes: Int
    public var rows: Int
    /// Total cost of the window's minute rows before and after.
    public var before: Money
    public var after: Money

    public init(nodeMinutes: Int, rows: Int, before: Money, after: Money) {
        self.nodeMinutes = nodeMinutes
        self.rows = rows
        self.before = before
        self.after = after
    }
}

public enum IngestOutcome: Hashable, Sendable {
    /// Stored now.
    case committed
    /// Already stored earlier under the same (cluster, agent instance, sequence): nothing changed.
    case duplicate
}

/// A visible gap: an agent reported samples it could not deliver.
public struct GapRecord: Hashable, Sendable {
    public var cluster: String
    public var node: String
    public var agentInstanceID: String
    public var sequence: UInt64
    public var reportedAtMillis: Int64
    public var droppedTicks: UInt64
    public var droppedBatches: UInt64

    public init(cluster: String, node: String, agentInstanceID: String, sequence: UInt64, reportedAtMillis: Int64, droppedTicks: UInt64, droppedBatches: UInt64) {
        self.cluster = cluster
        self.node = node
        self.agentInstanceID = agentInstanceID
        self.sequence = sequence
        self.reportedAtMillis = reportedAtMillis
        self.droppedTicks = droppedTicks
        self.droppedBatches = droppedBatches
    }
}

/// A signed checkpoint as stored: the tree size it covers and the signed note.
public struct CheckpointRecord: Hashable, Sendable {
    public var size: UInt64
    public var note: String
    public var createdAtMillis: Int64

    public init(size: UInt64, note: String, createdAtMillis: Int64) {
        self.size = size
        self.note = note
        self.createdAtMillis = createdAtMillis
    }
}

/// Which audit entries `auditEntries(matching:)` returns: oldest first, or newest first.
public struct AuditQuery: Hashable, Sendable {
    public var fromIndex: UInt64 = 0
    public var action: String?
    public var actor: String?
    public var sinceMillis: Int64?
    public var untilMillis: Int64?
    public var limit: Int = 1000
    /// Newest first instead of oldest first.
    public var newestFirst = false
    /// With `newestFirst`: only entries below this index.
    public var beforeIndex: UInt64?

    public init(
        fromIndex: UInt64 = 0, action: String? = nil, actor: String? = nil, sinceMillis: Int64? = nil, untilMillis: Int64? = nil,
        limit: Int = 1000, newestFirst: Bool = false, beforeIndex: UInt64? = nil
    ) {
        self.newestFirst = newestFirst
        self.beforeIndex = beforeIndex
        self.fromIndex = fromIndex
        self.action = action
        self.actor = actor
        self.sinceMillis = sinceMillis
        self.untilMillis = untilMillis
        self.limit = limit
    }
}

/// Stored row resolutions. Queries read the coarsest that answers them.
public enum Resolution: String, Sendable, Hashable, CaseIterable {
    case minute
    case hour

    public var millis: Int64 { self == .minute ? 60_000 : 3_600_000 }
}

/// `GET /v1/costs` as the store sees it: totals per group over a range.
public struct CostQuery: Hashable, Sendable {
    public var range: TimeRange
    public var aggregation: Aggregation
    public var filter: RowFilter
    public var resolution: Resolution
    /// False makes a store read the per-container rows even where the namespace rollup
    /// (`NamespaceRollup`) answers the query: the reference that the conformance suite and
    /// `kubehero-bench store` compare the rollup's answers with. Not part of the public API.
    package var usesRollup = true

    public init(range: TimeRange, aggregation: Aggregation, filter: RowFilter = RowFilter(), resolution: Resolution) {
        self.range = range
        self.aggregation = aggregation
        self.filter = filter
        self.resolution = resolution
    }
}

/// One group of a cost query. `name` is the group's value (a namespace, a pod as
/// `namespace/pod`, a container as `namespace/pod/container`, a label's value, or
/// `__unlabelled__` for rows without the label).
public struct CostGroup: Hashable, Sendable {
    public var name: String
    public var usage: Usage
    /// Everything in the group, idle included.
    public var cost: Cost
    /// The part of `cost` that is nodes' idle cost (rows of `IdleIdentity`).
    public var idle: Money

    public init(name: String, usage: Usage, cost: Cost, idle: Money = .zero) {
        self.name = name
        self.usage = usage
        self.cost = cost
        self.idle = idle
    }
}

/// `GET /v1/series` as the store sees it: sums per step over the filtered rows.
public struct SeriesQuery: Hashable, Sendable {
    public var range: TimeRange
    public var stepMillis: Int64
    public var filter: RowFilter
    public var resolution: Resolution

    public init(range: TimeRange, stepMillis: Int64, filter: RowFilter, resolution: Resolution) {
        self.range = range
        self.stepMillis = stepMillis
        self.filter = filter
        self.resolution = resolution
    }
}

/// One step of a series: rows whose start falls in [startMillis, startMillis + step).
public struct SeriesBucket: Hashable, Sendable {
    public var startMillis: Int64
    public var usage: Usage
    public var cost: Cost

    public init(startMillis: Int64, usage: Usage, cost: Cost) {
        self.startMillis = startMillis
        self.usage = usage
        self.cost = cost
    }
}

/// Errors every store reports in the same words.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let base: String
        private init(_ base: String) { self.base = base }
        /// A unique name (cluster, token, serial) is already taken.
        public static let conflict = Code("conflict")
        /// What was asked for does not exist.
        public static let notFound = Code("notFound")
        /// The database failed or is unreachable.
        public static let backend = Code("backend")
        /// The database's schema is newer than this program knows.
        public static let schema = Code("schema")
        public var description: String { base }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// The hub's persistent state. Implementations: `SQLiteStore` (embedded default) and,
/// later, PostgreSQL. Every implementation passes `KubeHeroStoreConformance`.
///
/// All times are Unix milliseconds, passed in by the caller (stores read no clock), so that
/// tests drive time.
///
/// Every method that changes what the hub knows takes the audit entries that record it and
/// appends them in the same transaction (fail closed): if they cannot be written, the change
/// does not happen and the method throws.
public protocol HubStore: Sendable {
    // MARK: Clusters and certificates

    /// Registers a cluster with its first certificate, atomically. Throws `.conflict` if an
    /// active cluster of that name exists or the serial is taken.
    func createCluster(_ cluster: ClusterRecord, certificate: CertificateRecord, audit: [AuditDraft]) async throws
    /// The active (not removed) cluster of that name.
    func cluster(named name: String) async throws -> ClusterRecord?
    /// Active clusters, by name.
    func listClusters() async throws -> [ClusterRecord]
    /// Marks the cluster removed and revokes all its certificates. Throws `.notFound`.
    func removeCluster(named name: String, atMillis: Int64, audit: [AuditDraft]) async throws
    /// Adds a certificate for an active cluster and revokes its earlier ones. Throws `.notFound`.
    func rotateCertificate(_ certificate: CertificateRecord, atMillis: Int64, audit: [AuditDraft]) async throws
    /// The certificate with that serial, revoked or not.
    func certificate(serialHex: String) async throws -> CertificateRecord?
    /// The cluster's newest unrevoked certificate.
    func currentCertificate(cluster: String) async throws -> CertificateRecord?

    // MARK: Tokens

    func createToken(_ token: TokenRecord, audit: [AuditDraft]) async throws
    /// The unrevoked token whose secret hashes to `secretHashHex`.
    func token(secretHashHex: String) async throws -> TokenRecord?
    /// All tokens, revoked ones included, oldest first.
    func listTokens() async throws -> [TokenRecord]
    /// Revokes an unrevoked token. Throws `.notFound`.
    func revokeToken(id: String, atMillis: Int64, audit: [AuditDraft]) async throws

    // MARK: Audit log

    /// Appends entries on their own (events with no other state change), in one transaction;
    /// returns them with their indexes.
    func appendAudit(_ drafts: [AuditDraft]) async throws -> [AuditEntry]
    /// Number of entries (the next index).
    func auditSize() async throws -> UInt64
    /// Entries matching the query, in index order.
    func auditEntries(matching query: AuditQuery) async throws -> [AuditEntry]
    /// Leaf hashes of entries [from, from + limit), in index order.
    func auditLeafHashes(from: UInt64, limit: Int) async throws -> [TreeHash]
    /// Stores a signed checkpoint; one per size (a second one for a size throws `.conflict`).
    func addCheckpoint(_ checkpoint: CheckpointRecord) async throws
    /// Checkpoints with size >= `fromSize`, by size, at most `limit`.
    func checkpoints(fromSize: UInt64, limit: Int) async throws -> [CheckpointRecord]
    /// The checkpoint with the largest size.
    func latestCheckpoint() async throws -> CheckpointRecord?

    // MARK: Usage

    /// Stores several batches in one transaction (group commit), each with its rows and its
    /// (cluster, agent, sequence) key. A record whose key was stored before, or appears earlier
    /// in `records`, changes nothing and gets `.duplicate`. Either every record is stored or,
    /// on error, none is. Outcomes are in the order of `records`.
    func ingest(_ records: [IngestRecord]) async throws -> [IngestOutcome]
    /// Totals per group over the query's range.
    func costs(_ query: CostQuery) async throws -> [CostGroup]
    /// Sums per step; steps without rows are omitted.
    func series(_ query: SeriesQuery) async throws -> [SeriesBucket]
    /// Time of the newest committed batch per cluster (receive time).
    func lastBatchTimes() async throws -> [String: Int64]
    /// Gaps reported by a cluster's agents, newest first, at most `limit`.
    func gaps(cluster: String, limit: Int) async throws -> [GapRecord]
    /// Number of committed batches (for metrics and tests).
    func batchCount() async throws -> Int

    // MARK: Prices

    /// Stores a new price version and returns it with its id, in one transaction (so that
    /// whatever else must be recorded with an import, such as an audit entry, can join it).
    /// `audit` makes the entries recording the import from the stored version (with its id).
    func importPriceVersion(_ version: PriceVersionRecord, audit: @escaping @Sendable (PriceVersionRecord) -> [AuditDraft]) async throws -> PriceVersionRecord
    /// Every price version, by effective time then id.
    func priceVersions() async throws -> [PriceVersionRecord]
    /// The newest recorded minute of a node (its last known attributes), if any.
    func latestNodeMinute(cluster: String, node: String) async throws -> NodeMinuteRecord?
    /// Re-prices the 1-minute rows of the node-minutes in `range` (optionally of one cluster),
    /// in one transaction: for each node-minute, `reprice` gets its record and its rows (the
    /// idle row included, if any) and returns the rows with their new costs, which may add an
    /// idle row. Each row's cost is replaced; the hourly rollup gets the difference; the
    /// node-minute records `priceVersion`. Rows outside `reprice`'s answer keep their cost.
    func reprice(
        range: TimeRange, cluster: String?, priceVersion: Int64,
        using reprice: @escaping @Sendable (NodeMinuteRecord, [UsageRow]) -> [UsageRow],
        audit: @escaping @Sendable (RepriceSummary) -> [AuditDraft]
    ) async throws -> RepriceSummary

    // MARK: Policies

    /// Creates the policy, or replaces the one of that name (its state and acknowledgements stay).
    func putPolicy(_ policy: PolicyRecord, audit: [AuditDraft]) async throws
    func policy(named name: String) async throws -> PolicyRecord?
    /// Every policy, by name.
    func listPolicies() async throws -> [PolicyRecord]
    /// Deletes the policy and its state. Throws `.notFound`.
    func deletePolicy(named name: String, audit: [AuditDraft]) async throws
    /// Stores the states of one evaluation pass in one transaction, with the entries that record
    /// what it found. States of policies that no longer exist are skipped.
    func savePolicyStates(_ states: [PolicyStateRecord], audit: [AuditDraft]) async throws
    /// Every stored state, by name.
    func policyStates() async throws -> [PolicyStateRecord]
    /// Records a cluster's acknowledgement, replacing its previous one.
    func recordEnforcementAck(_ ack: EnforcementAckRecord, audit: [AuditDraft]) async throws
    /// The latest acknowledgement of every cluster, by cluster.
    func enforcementAcks() async throws -> [EnforcementAckRecord]
    /// Spend per (cluster, namespace, label set) for policy evaluation, from hourly rollups;
    /// groups without cost in either window may be left out.
    func scopeSpend(_ query: ScopeSpendQuery) async throws -> [ScopeSpendRow]

    // MARK: Maintenance

    /// Deletes rows of `resolution` that start before `beforeMillis`; returns how many. Minute
    /// retention deletes the node-minute records with the minute rows.
    func deleteRows(resolution: Resolution, beforeMillis: Int64) async throws -> Int
    /// Forgets the (cluster, agent, sequence) keys of batches whose window ended before
    /// `windowEndBeforeMillis`; returns how many. The hub refuses batches older than this
    /// horizon, so a forgotten key can never let a re-send be counted twice.
    func deleteBatchKeys(windowEndBeforeMillis: Int64) async throws -> Int
    /// Releases connections. The store is unusable afterwards.
    func close() async throws
}

extension HubStore {
    /// Stores one batch; see `ingest(_:)` for several.
    public func ingest(_ record: IngestRecord) async throws -> IngestOutcome {
        try await ingest([record])[0]
    }
}
