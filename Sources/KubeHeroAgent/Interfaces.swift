import KubeHeroCore

// The seams of the agent. Each part lives in its own folder and meets the others here:
//
//   Cgroups/   finds container cgroups and reads their counters     (CgroupContainer, CgroupReading, UsageSampler)
//   Metadata/  names containers from the kubelet's /pods            (PodMetadataSnapshot)
//   Buffer/    keeps closed batches until acknowledged, and spools  (BatchBuffer, Spool)
//   Shipping/  the stream to the hub                                 (Shipper)
//   Agent.swift  ties them together as Services (tick loop, flush, ship)
//
// A later eBPF sampler implements `UsageSampler` too, adding network bytes by class.

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

    public init(cgroupID: UInt64, cpuUsageNanos: UInt64, memoryWorkingSetBytes: UInt64) {
        self.cgroupID = cgroupID
        self.cpuUsageNanos = cpuUsageNanos
        self.memoryWorkingSetBytes = memoryWorkingSetBytes
    }
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
