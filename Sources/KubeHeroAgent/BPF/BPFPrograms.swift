import CKubeHeroBPF
import KubeHeroCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Why the BPF programs could not be used: the step and the kernel's answer.
public struct BPFError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The step that failed, with the kernel's reason (`loading the sched_switch program: Operation not permitted`).
    public var reason: String
    /// The errno, when the kernel gave one.
    public var code: Int32

    public init(_ reason: String, code: Int32 = 0) {
        self.reason = reason
        self.code = code
    }

    public var description: String {
        if code == EPERM || code == EACCES {
            return "\(reason) (the agent needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)"
        }
        return reason
    }
}

/// The agent's BPF programs, loaded into the kernel: `sched_switch` CPU accounting and the
/// `cgroup_skb` network counters (agent/bpf). Reads are cumulative counters summed over CPUs,
/// taken with batch map lookups.
///
/// ```swift
/// let programs = try BPFPrograms.load([.cpu, .network])
/// try programs.install(rules)                   // before attaching: nothing is misclassified
/// try programs.attach(cgroupV2Root: "/sys/fs/cgroup")
/// let cpu = programs.cpuNanos()                 // cgroup id -> ns, every tick
/// programs.close()                              // detaches: no program or link is left
/// ```
///
/// Every call is a few system calls (no blocking I/O beyond them); the agent makes them from
/// its sampling thread. Safe to use from several threads: the handle is behind a lock.
public final class BPFPrograms: Sendable {
    public struct Parts: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// `tp_btf/sched_switch`: on-CPU nanoseconds per cgroup.
        public static let cpu = Parts(rawValue: KH_BPF_PART_CPU)
        /// `cgroup_skb/ingress` and `egress`: bytes and packets per cgroup, direction and class.
        public static let network = Parts(rawValue: KH_BPF_PART_NET)
    }

    /// One key of the network counters.
    public struct NetworkKey: Hashable, Sendable {
        public var cgroupID: UInt64
        public var egress: Bool
        /// nil: the address matched no rule (priced as internet).
        public var networkClass: NetworkClass?
    }

    public struct NetworkCount: Hashable, Sendable {
        public var bytes: UInt64
        public var packets: UInt64
    }

    /// A loaded program with its kernel ids and run-time statistics.
    public struct ProgramInfo: Hashable, Sendable {
        public var name: String
        public var programID: UInt32
        /// 0 when not attached.
        public var linkID: UInt32
        /// Total run time and runs, counted while `kernel.bpf_stats_enabled` is 1.
        public var runTimeNanos: UInt64
        public var runCount: UInt64
    }

    public let parts: Parts
    private let handle: Mutex<OpaquePointer?>
    /// What the class tables hold. Changed only while `handle` is locked (lock order: `handle`,
    /// then this).
    private let installedRules = Mutex<[CIDR: NetworkClass]>([:])

    private init(parts: Parts, handle: sending OpaquePointer) {
        self.parts = parts
        self.handle = Mutex(handle)
    }

    deinit { close() }

    /// Loads `parts` into the kernel (the verifier runs here); nothing is attached yet.
    public static func load(_ parts: Parts) throws(BPFError) -> BPFPrograms {
        var handle: OpaquePointer?
        var message = [CChar](repeating: 0, count: 512)
        let rc = kh_bpf_load(parts.rawValue, &handle, &message, message.count)
        guard rc == 0, let handle else { throw BPFError(Self.text(message), code: -rc) }
        return BPFPrograms(parts: parts, handle: handle)
    }

    /// Attaches the loaded programs: `sched_switch`, and the `cgroup_skb` programs to the cgroup
    /// v2 hierarchy mounted at `cgroupV2Root` (as bpf_links, next to any other programs there).
    public func attach(cgroupV2Root: String) throws(BPFError) {
        var message = [CChar](repeating: 0, count: 512)
        let rc = handle.withLock { handle -> Int32 in
            guard let handle else { return -EBADF }
            return kh_bpf_attach(handle, cgroupV2Root, &message, message.count)
        }
        if rc != 0 { throw BPFError(rc == -EBADF ? "the BPF programs were closed" : Self.text(message), code: -rc) }
    }

    /// How many rules each class table (IPv4, IPv6) holds at most.
    public static let maxClassRulesPerFamily = Int(KH_BPF_MAX_CLASS_RULES)

    /// What `install` changed in the class tables.
    public struct RuleChange: Hashable, Sendable {
        /// Rules written: new networks, and networks whose class changed.
        public var written = 0
        /// Rules deleted: networks no longer in the table.
        public var removed = 0
    }

    /// Makes the destination-class tables (`network` part only) hold exactly `rules`: writes the
    /// new and changed ones first, then deletes the networks that are gone, so that an address
    /// is never unclassified while the table changes. Installing the same rules again writes
    /// nothing. Throws before writing anything when a family has more rules than its table
    /// holds; after a failed write the tables hold what was written until then, and the next
    /// call completes the change.
    @discardableResult
    public func install(_ rules: [NetworkClassRule]) throws(BPFError) -> RuleChange {
        var wanted: [CIDR: NetworkClass] = [:]
        for rule in rules { wanted[rule.cidr] = rule.networkClass }
        for (family, isIPv4) in [("IPv4", true), ("IPv6", false)] {
            let count = wanted.keys.count { $0.isIPv4 == isIPv4 }
            if count > Self.maxClassRulesPerFamily {
                throw BPFError("\(count) \(family) class rules; the table holds \(Self.maxClassRulesPerFamily)", code: E2BIG)
            }
        }
        let result: Result<RuleChange, BPFError> = handle.withLock { handle in
            guard let handle else { return .failure(BPFError("the BPF programs were closed", code: EBADF)) }
            return installedRules.withLock { installed in
                var change = RuleChange()
                for (cidr, networkClass) in wanted.sorted(by: { $0.key < $1.key }) where installed[cidr] != networkClass {
                    let classID = UInt32(NetworkClass.allCases.firstIndex(of: networkClass)!)
                    let rc = cidr.address.withUnsafeBufferPointer {
                        kh_bpf_put_class(handle, cidr.isIPv4 ? 4 : 6, $0.baseAddress, UInt32(cidr.prefixLength), classID)
                    }
                    if rc != 0 { return .failure(BPFError("writing the class of \(cidr): \(String(cString: strerror(-rc)))", code: -rc)) }
                    installed[cidr] = networkClass
                    change.written += 1
                }
                for cidr in installed.keys.sorted() where wanted[cidr] == nil {
                    let rc = cidr.address.withUnsafeBufferPointer {
                        kh_bpf_delete_class(handle, cidr.isIPv4 ? 4 : 6, $0.baseAddress, UInt32(cidr.prefixLength))
                    }
                    if rc != 0 && rc != -ENOENT {
                        return .failure(BPFError("removing the class of \(cidr): \(String(cString: strerror(-rc)))", code: -rc))
                    }
                    installed[cidr] = nil
                    change.removed += 1
                }
                return .success(change)
            }
        }
        return try result.get()
    }

    /// The rules the class tables hold, sorted.
    public var installed: [NetworkClassRule] {
        installedRules.withLock { $0.map { NetworkClassRule($0.key, $0.value) }.sorted { $0.cidr < $1.cidr } }
    }

    /// Detaches and unloads everything. Idempotent.
    public func close() {
        handle.withLock { handle in
            kh_bpf_close(handle)
            handle = nil
        }
    }

    /// On-CPU nanoseconds per cgroup id, cumulative, including the slices running right now.
    public func cpuNanos() throws(BPFError) -> [UInt64: UInt64] {
        try handle.withLock { handle throws(BPFError) -> [UInt64: UInt64] in
            guard let handle else { throw BPFError("the BPF programs were closed", code: EBADF) }
            var totals: [UInt64: UInt64] = [:]
            var records = try Self.readAll(handle, "the CPU counters", kh_bpf_cpu_record(), kh_bpf_read_cpu) { r in
                totals[r.cgroup_id, default: 0] &+= r.nanos
            }
            // The slice each CPU is running has not reached the map yet: a task that has not been
            // switched out for seconds would otherwise be missed until it is.
            let running = kh_bpf_read_running(handle, &records, records.count)
            let now = kh_bpf_monotonic_ns()
            if running > 0 {
                for r in records.prefix(Int(running)) where now > r.nanos { totals[r.cgroup_id, default: 0] &+= now - r.nanos }
            }
            return totals
        }
    }

    /// Network bytes and packets, cumulative, per cgroup, direction and class.
    public func networkCounts() throws(BPFError) -> [NetworkKey: NetworkCount] {
        try handle.withLock { handle throws(BPFError) -> [NetworkKey: NetworkCount] in
            guard let handle else { throw BPFError("the BPF programs were closed", code: EBADF) }
            var counts: [NetworkKey: NetworkCount] = [:]
            let classes = NetworkClass.allCases
            _ = try Self.readAll(handle, "the network counters", kh_bpf_net_record(), kh_bpf_read_net) { r in
                let cls = r.class_id < UInt32(classes.count) ? classes[Int(r.class_id)] : nil
                let key = NetworkKey(cgroupID: r.cgroup_id, egress: r.direction == KH_BPF_EGRESS, networkClass: cls)
                counts[key, default: NetworkCount(bytes: 0, packets: 0)].bytes &+= r.bytes
                counts[key, default: NetworkCount(bytes: 0, packets: 0)].packets &+= r.packets
            }
            return counts
        }
    }

    /// Reads a counter map to its end in batches of 256, passing each record to `each`; returns
    /// the record buffer for reuse.
    private static func readAll<Record>(
        _ handle: OpaquePointer, _ what: String, _ zero: Record,
        _ read: (OpaquePointer?, UnsafeMutablePointer<kh_bpf_cursor>?, UnsafeMutablePointer<Record>?, Int) -> Int,
        _ each: (Record) -> Void
    ) throws(BPFError) -> [Record] {
        var records = [Record](repeating: zero, count: 256)
        var cursor = kh_bpf_cursor()
        while cursor.done == 0 {
            let n = read(handle, &cursor, &records, records.count)
            if n < 0 { throw BPFError("reading \(what): \(String(cString: strerror(Int32(-n))))", code: Int32(-n)) }
            for r in records.prefix(n) { each(r) }
        }
        return records
    }

    /// The loaded programs, their kernel ids and statistics.
    public func programs() throws(BPFError) -> [ProgramInfo] {
        try handle.withLock { handle throws(BPFError) -> [ProgramInfo] in
            guard let handle else { return [] }
            var infos = [kh_bpf_program_info](repeating: kh_bpf_program_info(), count: 4)
            let n = kh_bpf_programs(handle, &infos, infos.count)
            if n < 0 { throw BPFError("reading program information: \(String(cString: strerror(Int32(-n))))", code: Int32(-n)) }
            return infos.prefix(Int(n)).map { info in
                var info = info
                let name = withUnsafeBytes(of: &info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                return ProgramInfo(name: name, programID: info.program_id, linkID: info.link_id, runTimeNanos: info.run_time_ns, runCount: info.run_count)
            }
        }
    }

    /// Whether the kernel still holds a BPF program with this id (loaded by anyone).
    public static func programExists(id: UInt32) -> Bool { kh_bpf_program_exists(id) == 1 }
    /// Whether the kernel still holds a BPF link with this id.
    public static func linkExists(id: UInt32) -> Bool { kh_bpf_link_exists(id) == 1 }

    /// Turns on the kernel's BPF run-time statistics until the returned closure is called
    /// (`BPF_ENABLE_STATS`, the same as `kernel.bpf_stats_enabled=1` while it lasts).
    public static func enableRunTimeStatistics() throws(BPFError) -> @Sendable () -> Void {
        let fd = kh_bpf_enable_stats()
        if fd < 0 { throw BPFError("enabling BPF run-time statistics: \(String(cString: strerror(-fd)))", code: -fd) }
        return { kh_bpf_close_fd(fd) }
    }

    private static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
