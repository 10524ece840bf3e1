import KubeHeroCore

// The seams of the agent. Each part lives in its own folder and meets the others here:
//
//   Cgroups/   finds container cgroups and reads their counters     (CgroupContainer, CgroupReading, UsageSampler)
//   Metadata/  names containers from the kubelet's /pods            (PodMetadataSnapshot)
//   Buffer/    keeps closed batches until acknowledged, and spools  (BatchBuffer, Spool)
//   Shipping/  the stream to the hub                                 (Shipper)
//   Agent.swift  ties them together as Services (tick loop, flush, ship)
//
//   BPF/      the eBPF sampler: CPU from sched_switch and network bytes by class (EBPFSampler)

/// A container cgroup found on this node.
public struct CgroupContainer: Hashable, Sendable {
    /// The cgroup directory's inode number (what `bpf_get_current_cgroup_id` returns on v2).
    public var cgroupID: UInt64
    /// Path relative to the hierarchy root, e.g. `/kubepods.slice/.../cri-containerd-<id>.scope`.
    public var path: String
    /// Pod UID from the path (systemd driver's underscores turned back into dashes), if any.
    public var podUID: String?
    /// Container runtime id (usually 64 hex digits) from the path, if any.
    public var containerID: String?
    /// `containerd`, `crio`, `docker`, or nil when the path does not say.
    public var runtime: String?
    /// `guaranteed`, `burstable`, `besteffort`, or nil outside Kubernetes.
    public var qosClass: String?

    public init(cgroupID: UInt64, path: String, podUID: String? = nil, containerID: String? = nil, runtime: String? = nil, qosClass: String? = nil) {
        self.cgroupID = cgroupID
        self.path = path
        self.podUID = podUID
        self.containerID = containerID
        self.runtime = runtime
        self.qosClass = qosClass
    }
}

/// One reading of a container's counters at one tick.
public struct CgroupReading: Hashable, Sendable {
    public var cgroupID: UInt64
    /// Cumulative CPU time of the cgroup, nanoseconds (v2 `cpu.stat` usage_usec x 1000; v1 `cpuacct.usage`).
    public var cpuUsageNanos: UInt64
    /// Working set now: usage minus inactive file cache, bytes.
    public var memoryWorkingSetBytes: UInt64
    /// Cumulative egress bytes by destination class (eBPF); nil where not measured.
    public var networkEgressBytes: NetworkBytes?

    public init(cgroupID: UInt64, cpuUsageNanos: UInt64, memoryWorkingSetBytes: UInt64, networkEgressBytes: NetworkBytes? = nil) {
        self.cgroupID = cgroupID
        self.cpuUsageNanos = cpuUsageNanos
        self.memoryWorkingSetBytes = memoryWorkingSetBytes
        self.networkEgressBytes = networkEgressBytes
    }
}

/// A byte count per `NetworkClass`, without a dictionary per reading.
public struct NetworkBytes: Hashable, Sendable {
    private var values: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)

    public init() {}

    public subscript(_ c: NetworkClass) -> UInt64 {
        get {
            switch c {
            case .sameNode: values.0
            case .sameZone: values.1
            case .crossZone: values.2
            case .internet: values.3
            case .crossRegion: values.4
            }
        }
        set {
            switch c {
            case .sameNode: values.0 = newValue
            case .sameZone: values.1 = newValue
            case .crossZone: values.2 = newValue
            case .internet: values.3 = newValue
            case .crossRegion: values.4 = newValue
            }
        }
    }

    public static func == (a: NetworkBytes, b: NetworkBytes) -> Bool { NetworkClass.allCases.allSatisfy { a[$0] == b[$0] } }
    public func hash(into hasher: inout Hasher) { for c in NetworkClass.allCases { hasher.combine(self[c]) } }
}

/// Finds and reads container cgroups. Both calls do blocking file-system work: the agent calls
/// them from a dedicated thread (NIOThreadPool), never from an event loop.
public protocol UsageSampler: Sendable {
    /// The container cgroups present now.
    func discover() throws -> [CgroupContainer]
    /// Current counters of `containers`; a container whose cgroup is gone is left out.
    func read(_ containers: [CgroupContainer]) -> [CgroupReading]
    /// How samples are taken (`cgroupfs`, `ebpf`), reported in every batch.
    var source: SampleSource { get }
}
