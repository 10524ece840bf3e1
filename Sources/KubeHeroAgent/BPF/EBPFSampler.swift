import KubeHeroCore
import Logging
import Synchronization

/// Samples containers with eBPF: CPU time from `sched_switch` and egress bytes by destination
/// class from `cgroup_skb`, per cgroup v2 id. Discovery (the cgroup index: which cgroup ids are
/// which containers) and memory come from the cgroupfs sampler it wraps; each tick reads the
/// BPF maps once and translates cgroup ids through the containers the tick loop passes in.
///
/// Counters are cumulative, as from cgroupfs: the tick loop's `BatchBuilder` takes differences.
/// A cgroup whose BPF counter is not there (it has not run since the programs were loaded, or
/// the LRU map evicted it) keeps its last value, so its CPU never appears to go backwards.
public final class EBPFSampler: UsageSampler {
    public let source: SampleSource = .ebpf
    public let cgroups: CgroupfsSampler
    public let programs: BPFPrograms
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var lastCPU: [UInt64: UInt64] = [:]
        var reportedFailure = false
    }

    /// `programs` loaded and attached; they are closed by `close()`.
    public init(cgroups: CgroupfsSampler, programs: BPFPrograms, logger: Logger) {
        self.cgroups = cgroups
        self.programs = programs
        self.logger = logger
    }

    public func discover() throws -> [CgroupContainer] { try cgroups.discover() }

    public func read(_ containers: [CgroupContainer]) -> [CgroupReading] {
        // Memory from cgroupfs (cpu.stat too when the CPU program is not loaded): it also drops
        // cgroups that are gone.
        var readings = cgroups.read(containers, cpu: !programs.parts.contains(.cpu))
        let cpu: [UInt64: UInt64]?
        let network: [BPFPrograms.NetworkKey: BPFPrograms.NetworkCount]?
        do {
            cpu = programs.parts.contains(.cpu) ? try programs.cpuNanos() : nil
            network = programs.parts.contains(.network) ? try programs.networkCounts() : nil
        } catch {
            // cpu.stat counts from another origin than the BPF counters: mixing them would make a
            // delta of the container's whole life. This tick repeats each container's last BPF
            // values (a zero tick, caught up by the next reading); one never read is left out.
            let first = state.withLock { s in
                readings = readings.compactMap { r in
                    guard let last = s.lastCPU[r.cgroupID] else { return nil }
                    var r = r
                    r.cpuUsageNanos = last
                    return r
                }
                defer { s.reportedFailure = true }
                return !s.reportedFailure
            }
            if first { logger.warning("reading the BPF maps failed; this tick reports no new CPU or network bytes", metadata: ["error": "\(error)"]) }
            return readings
        }
        var egress: [UInt64: NetworkBytes] = [:]
        if let network {
            for (key, count) in network where key.egress {
                egress[key.cgroupID, default: NetworkBytes()][key.networkClass ?? .internet] &+= count.bytes
            }
        }
        state.withLock { s in
            for i in readings.indices {
                let id = readings[i].cgroupID
                if let cpu {
                    let value = max(cpu[id] ?? 0, s.lastCPU[id] ?? 0)
                    s.lastCPU[id] = value
                    readings[i].cpuUsageNanos = value
                }
                if network != nil { readings[i].networkEgressBytes = egress[id] ?? NetworkBytes() }
            }
            // Forget cgroups no longer read, so the table stays as large as the node's containers.
            if s.lastCPU.count > 2 * readings.count + 64 {
                let current = Set(readings.map(\.cgroupID))
                s.lastCPU = s.lastCPU.filter { current.contains($0.key) }
            }
        }
        return readings
    }

    /// Detaches and unloads the BPF programs.
    public func close() { programs.close() }
}
