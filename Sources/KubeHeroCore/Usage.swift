/// Where a network byte went, as seen from the sending container. Pricing differs by class:
/// same-node and same-zone traffic is free on every major cloud, cross-zone and internet egress
/// are not.
public enum NetworkClass: String, CaseIterable, Sendable, Codable, Hashable {
    case sameNode = "same-node"
    case sameZone = "same-zone"
    case crossZone = "cross-zone"
    case internet = "internet"
    /// To another region of the same cloud (peered VPCs, other clusters of the fleet). Last, so
    /// that the other classes keep their positions (BPF class ids, wire values, column order).
    case crossRegion = "cross-region"

    /// One 0 per class: an empty per-class column, in `allCases` order.
    public static let zeros = [Int64](repeating: 0, count: allCases.count)
}

/// Whether a node is billed as spot/preemptible or on-demand.
public enum CapacityType: String, Sendable, Codable, Hashable, CaseIterable {
    case onDemand = "on-demand"
    case spot = "spot"
    case unknown = "unknown"
}

/// How a batch's samples were taken.
public enum SampleSource: String, Sendable, Codable, Hashable {
    case cgroupfs
    case ebpf
}

/// The node an agent runs on, as it reports it. The cluster is never part of this: the hub
/// takes it from the agent's verified client certificate.
public struct NodeInfo: Hashable, Sendable, Codable {
    public var name: String
    public var instanceType: String
    public var region: String
    public var zone: String
    public var capacityType: CapacityType
    public var cpuCapacityMillicores: UInt32
    public var memoryCapacityBytes: UInt64
    public var gpuCount: UInt32
    /// The node's `kubehero.io/node-hourly-usd` annotation as written (empty when absent):
    /// a price that overrides every catalog, e.g. for reserved or negotiated capacity.
    public var hourlyPriceOverride: String

    /// The annotation that overrides a node's hourly price.
    public static let hourlyPriceAnnotation = "kubehero.io/node-hourly-usd"

    public init(
        name: String, instanceType: String = "", region: String = "", zone: String = "",
        capacityType: CapacityType = .unknown, cpuCapacityMillicores: UInt32 = 0,
        memoryCapacityBytes: UInt64 = 0, gpuCount: UInt32 = 0, hourlyPriceOverride: String = ""
    ) {
        self.hourlyPriceOverride = hourlyPriceOverride
        self.name = name
        self.instanceType = instanceType
        self.region = region
        self.zone = zone
        self.capacityType = capacityType
        self.cpuCapacityMillicores = cpuCapacityMillicores
        self.memoryCapacityBytes = memoryCapacityBytes
        self.gpuCount = gpuCount
    }
}

/// Who a container is: its Kubernetes identity and what it asked for.
public struct ContainerIdentity: Hashable, Sendable, Codable {
    public var namespace: String
    public var pod: String
    public var container: String
    public var podUID: String
    public var labels: [String: String]
    public var ownerKind: String
    public var ownerName: String
    public var cpuRequestMillicores: UInt32
    public var memoryRequestBytes: UInt64
    public var cpuLimitMillicores: UInt32
    public var memoryLimitBytes: UInt64
    public var gpuRequest: UInt32
    /// Persistent volume claims charged to this container (a pod's claims go to one of its
    /// containers, so that they are counted once).
    public var volumes: [VolumeClaim]

    public init(
        namespace: String, pod: String, container: String, podUID: String = "",
        labels: [String: String] = [:], ownerKind: String = "", ownerName: String = "",
        cpuRequestMillicores: UInt32 = 0, memoryRequestBytes: UInt64 = 0,
        cpuLimitMillicores: UInt32 = 0, memoryLimitBytes: UInt64 = 0, gpuRequest: UInt32 = 0,
        volumes: [VolumeClaim] = []
    ) {
        self.volumes = volumes
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.podUID = podUID
        self.labels = labels
        self.ownerKind = ownerKind
        self.ownerName = ownerName
        self.cpuRequestMillicores = cpuRequestMillicores
        self.memoryRequestBytes = memoryRequestBytes
        self.cpuLimitMillicores = cpuLimitMillicores
        self.memoryLimitBytes = memoryLimitBytes
        self.gpuRequest = gpuRequest
    }
}

/// A persistent volume claim, priced at its requested size and storage class.
public struct VolumeClaim: Hashable, Sendable, Codable {
    public var claimName: String
    /// The claim's storage class as the cluster names it (`gp3`, `premium-rwo`, ...); empty
    /// for the cloud's default class.
    public var storageClass: String
    public var requestBytes: UInt64

    public init(claimName: String, storageClass: String = "", requestBytes: UInt64) {
        self.claimName = claimName
        self.storageClass = storageClass
        self.requestBytes = requestBytes
    }
}

/// One container's samples within a batch: columns with one value per tick, starting at
/// tick `firstTick` of the batch (a container that started or exited mid-batch covers fewer
/// ticks than the batch).
public struct ContainerSamples: Hashable, Sendable, Codable {
    public var cgroupID: UInt64
    public var identity: ContainerIdentity
    public var firstTick: Int
    /// CPU time used during each tick, in nanoseconds.
    public var cpuNanos: [UInt64]
    /// Memory working set at each tick, in bytes.
    public var memoryWorkingSetBytes: [UInt64]
    /// Egress bytes during each tick, per destination class; absent classes are all zero.
    public var networkEgressBytes: [NetworkClass: [UInt64]]

    public init(
        cgroupID: UInt64, identity: ContainerIdentity, firstTick: Int = 0, cpuNanos: [UInt64],
        memoryWorkingSetBytes: [UInt64], networkEgressBytes: [NetworkClass: [UInt64]] = [:]
    ) {
        self.cgroupID = cgroupID
        self.identity = identity
        self.firstTick = firstTick
        self.cpuNanos = cpuNanos
        self.memoryWorkingSetBytes = memoryWorkingSetBytes
        self.networkEgressBytes = networkEgressBytes
    }

    /// Number of ticks this container was sampled in.
    public var tickCount: Int { cpuNanos.count }
}

/// One agent's samples for one flush interval: the unit that travels to the hub, is committed
/// in one transaction, and is acknowledged. `(agentInstanceID, sequence)` identifies it, so a
/// re-sent batch is recognised.
public struct UsageBatch: Hashable, Sendable, Codable {
    public var agentInstanceID: String
    public var sequence: UInt64
    public var node: NodeInfo
    /// Start of the first tick, milliseconds since the Unix epoch.
    public var windowStartUnixMillis: Int64
    public var tickMillis: UInt32
    public var tickCount: Int
    public var containers: [ContainerSamples]
    /// Ticks the agent could not keep (queue full, sampler error) since its previous batch.
    public var droppedTicks: UInt64
    /// Whole batches the agent dropped since its previous batch.
    public var droppedBatches: UInt64
    public var source: SampleSource

    public init(
        agentInstanceID: String, sequence: UInt64, node: NodeInfo, windowStartUnixMillis: Int64,
        tickMillis: UInt32, tickCount: Int, containers: [ContainerSamples], droppedTicks: UInt64 = 0,
        droppedBatches: UInt64 = 0, source: SampleSource = .cgroupfs
    ) {
        self.agentInstanceID = agentInstanceID
        self.sequence = sequence
        self.node = node
        self.windowStartUnixMillis = windowStartUnixMillis
        self.tickMillis = tickMillis
        self.tickCount = tickCount
        self.containers = containers
        self.droppedTicks = droppedTicks
        self.droppedBatches = droppedBatches
        self.source = source
    }

    /// Container-samples in this batch: one per container per tick it was sampled.
    public var sampleCount: Int { containers.reduce(0) { $0 + $1.tickCount } }

    /// End of the last tick, milliseconds since the Unix epoch.
    public var windowEndUnixMillis: Int64 { windowStartUnixMillis + Int64(tickCount) * Int64(tickMillis) }
}

/// Size limits for a batch, enforced after decoding and before anything is stored.
public struct BatchLimits: Sendable, Hashable {
    public var maxContainers = 10_000
    public var maxTicks = 3_600
    public var maxLabelsPerContainer = 64
    public var maxStringBytes = 253
    public var minTickMillis: UInt32 = 100
    public var maxTickMillis: UInt32 = 60_000

    public init() {}
    public static let standard = BatchLimits()
}

extension UsageBatch {
    /// Checks everything the hub relies on: sizes, names, column lengths and the time window.
    /// The error names the first bad field, e.g. `containers[2].memoryWorkingSetBytes`.
    public func validate(limits: BatchLimits = .standard) throws(ValidationError) {
        if agentInstanceID.isEmpty || agentInstanceID.utf8.count > 128 {
            throw ValidationError(field: "agentInstanceID", "must be 1-128 characters")
        }
        if node.name.isEmpty || node.name.utf8.count > limits.maxStringBytes {
            throw ValidationError(field: "node.name", "must be 1-\(limits.maxStringBytes) characters")
        }
        for (field, value) in [
            ("node.instanceType", node.instanceType), ("node.region", node.region), ("node.zone", node.zone),
            ("node.hourlyPriceOverride", node.hourlyPriceOverride),
        ]
        where value.utf8.count > limits.maxStringBytes {
            throw ValidationError(field: field, "must be at most \(limits.maxStringBytes) characters")
        }
        if tickMillis < limits.minTickMillis || tickMillis > limits.maxTickMillis {
            throw ValidationError(field: "tickMillis", "must be between \(limits.minTickMillis) and \(limits.maxTickMillis), got \(tickMillis)")
        }
        if tickCount < 1 || tickCount > limits.maxTicks {
            throw ValidationError(field: "tickCount", "must be between 1 and \(limits.maxTicks), got \(tickCount)")
        }
        // 2000-01-01 .. 2200-01-01: catches seconds-vs-milliseconds mistakes.
        if windowStartUnixMillis < 946_684_800_000 || windowStartUnixMillis > 7_258_118_400_000 {
            throw ValidationError(field: "windowStartUnixMillis", "\(windowStartUnixMillis) is not a plausible time in milliseconds since 1970")
        }
        if containers.count > limits.maxContainers {
            throw ValidationError(field: "containers", "at most \(limits.maxContainers) containers per batch, got \(containers.count)")
        }
        var seen = Set<UInt64>()
        for (i, c) in containers.enumerated() {
            do throws(ValidationError) {
                try c.validate(batchTicks: tickCount, tickMillis: tickMillis, limits: limits)
            } catch {
                throw error.nested(in: "containers[\(i)]")
            }
            if !seen.insert(c.cgroupID).inserted {
                throw ValidationError(field: "containers[\(i)].cgroupID", "cgroup id \(c.cgroupID) appears twice in the batch")
            }
        }
    }
}

extension ContainerSamples {
    func validate(batchTicks: Int, tickMillis: UInt32, limits: BatchLimits) throws(ValidationError) {
        let id = identity
        for (field, value) in [("namespace", id.namespace), ("pod", id.pod), ("container", id.container)] {
            if value.isEmpty || value.utf8.count > limits.maxStringBytes {
                throw ValidationError(field: field, "must be 1-\(limits.maxStringBytes) characters")
            }
        }
        for (field, value) in [("podUID", id.podUID), ("ownerKind", id.ownerKind), ("ownerName", id.ownerName)]
        where value.utf8.count > limits.maxStringBytes {
            throw ValidationError(field: field, "must be at most \(limits.maxStringBytes) characters")
        }
        if id.labels.count > limits.maxLabelsPerContainer {
            throw ValidationError(field: "labels", "at most \(limits.maxLabelsPerContainer) labels, got \(id.labels.count)")
        }
        try KubernetesNames.validateLabels(id.labels, field: "labels")
        if id.volumes.count > 64 { throw ValidationError(field: "volumes", "at most 64 volume claims, got \(id.volumes.count)") }
        for (i, v) in id.volumes.enumerated() {
            if v.claimName.isEmpty || v.claimName.utf8.count > limits.maxStringBytes || v.storageClass.utf8.count > limits.maxStringBytes {
                throw ValidationError(field: "volumes[\(i)]", "claim name must be 1-\(limits.maxStringBytes) characters and storage class at most \(limits.maxStringBytes)")
            }
            if v.requestBytes > 1 << 50 {
                throw ValidationError(field: "volumes[\(i)].requestBytes", "\(v.requestBytes) bytes exceeds 1 PiB")
            }
        }
        if firstTick < 0 || firstTick >= batchTicks {
            throw ValidationError(field: "firstTick", "must be within the batch's \(batchTicks) ticks, got \(firstTick)")
        }
        let n = cpuNanos.count
        if n == 0 { throw ValidationError(field: "cpuNanos", "must have at least one tick") }
        if firstTick + n > batchTicks {
            throw ValidationError(field: "cpuNanos", "\(n) ticks from tick \(firstTick) run past the batch's \(batchTicks) ticks")
        }
        if memoryWorkingSetBytes.count != n {
            throw ValidationError(field: "memoryWorkingSetBytes", "has \(memoryWorkingSetBytes.count) values but cpuNanos has \(n)")
        }
        // A container cannot use more CPU in one tick than 1024 cores for the whole tick.
        let maxCPU = UInt64(tickMillis) * 1_000_000 * 1024
        if let i = cpuNanos.firstIndex(where: { $0 > maxCPU }) {
            throw ValidationError(field: "cpuNanos[\(i)]", "\(cpuNanos[i]) ns in one \(tickMillis) ms tick is impossible")
        }
        if let i = memoryWorkingSetBytes.firstIndex(where: { $0 > 1 << 44 }) {
            throw ValidationError(field: "memoryWorkingSetBytes[\(i)]", "\(memoryWorkingSetBytes[i]) bytes exceeds 16 TiB")
        }
        for (cls, column) in networkEgressBytes where column.count != n {
            throw ValidationError(field: "networkEgressBytes[\(cls.rawValue)]", "has \(column.count) values but cpuNanos has \(n)")
        }
    }
}
