// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
import Glibc
import KubeHeroCore
import Logging
import Synchronization

/// How the cgroupfs sampler finds containers.
public struct CgroupOptions: Hashable, Sendable {
    /// The directory to walk. Default: the cgroup v2 mount, or on v1-only hosts the v1 `cpuacct`
    /// hierarchy. A directory outside every cgroup mount is read as a v2-layout tree of its own.
    public var cgroupRoot: String?
    /// A glob (fnmatch(3) with `FNM_PATHNAME`: `*` does not cross `/`) on each directory's path
    /// relative to the root, e.g. `demo/*`. When set, every matching directory is a container —
    /// Kubernetes fields filled in when its path also looks like a kubelet container cgroup —
    /// instead of recognising Kubernetes container cgroups.
    public var match: String?
    /// The mountinfo file to find cgroup mounts in.
    public var mountinfoPath: String
    /// Directories deeper than this below the root are not listed.
    public var maxDepth: Int
    /// At most this many directories are listed per discovery.
    public var maxEntries: Int
    /// Keep each container's counter files open between reads (one `pread` per file and tick
    /// instead of `open`/`read`/`close`), within a budget taken from the file limit. Only in real
    /// cgroup hierarchies: a plain directory tree is read by path.
    public var keepFilesOpen: Bool

    public init(
        cgroupRoot: String? = nil, match: String? = nil, mountinfoPath: String = "/proc/self/mountinfo",
        maxDepth: Int = 32, maxEntries: Int = 100_000, keepFilesOpen: Bool = true
    ) {
        self.keepFilesOpen = keepFilesOpen
        self.cgroupRoot = cgroupRoot
        self.match = match
        self.mountinfoPath = mountinfoPath
        self.maxDepth = maxDepth
        self.maxEntries = maxEntries
    }

    func validate() throws {
        if let cgroupRoot, !cgroupRoot.hasPrefix("/") {
            throw ValidationError(field: "cgroupRoot", "must be an absolute path, got '\(cgroupRoot)'")
        }
        if let match, match.isEmpty {
            throw ValidationError(field: "match", "must not be empty; leave it out to find Kubernetes containers")
        }
        guard maxDepth >= 1 else { throw ValidationError(field: "maxDepth", "must be at least 1, got \(maxDepth)") }
        guard maxEntries >= 1 else { throw ValidationError(field: "maxEntries", "must be at least 1, got \(maxEntries)") }
    }
}

/// Samples containers from the cgroup file system: discovery lists directories under the root and
/// recognises container cgroups by path; each read opens a few small files per container.
///
/// ```swift
/// let sampler = try CgroupfsSampler(options: CgroupOptions())
/// logger.info("sampling cgroups", metadata: sampler.logMetadata)
/// let containers = try sampler.discover()     // every few seconds
/// let readings = sampler.read(containers)     // every tick
/// ```
///
/// Counters: v2 `cpu.stat` `usage_usec` and `memory.current` minus `inactive_file`; on v1 (or
/// where a v2 cgroup lacks the controller's files, as on hybrid hosts) `cpuacct.usage` and
/// `memory.usage_in_bytes` minus `total_inactive_file` at the same cgroup path. A container without
/// any CPU counter is left out (and logged once) rather than reported idle; one without memory
/// files is reported with a 0-byte working set (logged once).
public final class CgroupfsSampler: UsageSampler {
    public let source: SampleSource = .cgroupfs
    /// The cgroup mounts found in `mountinfoPath`.
    public let mounts: CgroupMounts
    /// The controllers the v2 hierarchy offers (its root's `cgroup.controllers`); nil without v2
    /// or when unreadable.
    public let v2Controllers: [String]?
    /// The directory discovery walks.
    public let root: String
    /// The version of the hierarchy `root` is in (v2: its cgroup ids are what BPF reports).
    public var rootVersion: CgroupMount.Version { walked.version }
    public let options: CgroupOptions

    private let walked: CgroupMount
    private let sources: CgroupCounterSources
    private let logger: Logger
    private let state: Mutex<State>
    /// Counter files kept open across ticks (see `OpenCgroupFile`).
    let openFiles: OpenFileBudget

    private struct State {
        /// One buffer for every file of every read: reads hold the lock, so they never share it.
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var plans: [CgroupContainer: (plan: CgroupCounterSources.Plan, files: CgroupCounterSources.OpenFiles)] = [:]
        /// Problems already logged, so that a tick every second does not repeat them.
        var reported: Set<String> = []
    }

    /// `openFiles` bounds the counter files kept open (default: from the process's file limit).
    public convenience init(options: CgroupOptions, logger: Logger = Logger(label: "kubehero.agent.cgroups")) throws {
        try self.init(options: options, openFiles: .fromResourceLimit(), logger: logger)
    }

    init(options: CgroupOptions, openFiles: OpenFileBudget, logger: Logger) throws {
        try options.validate()
        let mounts = try CgroupMounts.load(from: options.mountinfoPath)
        let walked: CgroupMount
        let root: String
        var fallback = true
        if let requested = options.cgroupRoot {
            root = Self.resolve(requested)
            let all = (mounts.v2.map { [$0] } ?? []) + mounts.v1
            let containing = all.filter { CgroupPathText.remainder(of: root, under: $0.mountPoint) != nil }
            let below = all.filter { CgroupPathText.remainder(of: $0.mountPoint, under: root) != nil }
            if let innermost = containing.max(by: { $0.mountPoint.count < $1.mountPoint.count }) {
                walked = innermost
            } else if !below.isEmpty {
                throw CgroupError(
                    .notAHierarchy, path: root,
                    "it holds the cgroup mounts \(below.map(\.mountPoint).joined(separator: ", ")); set cgroupRoot to one of them or below")
            } else {
                // A copy or a fake tree: read it as v2 and fall back nowhere.
                walked = CgroupMount(version: .v2, mountPoint: root)
                fallback = false
            }
        } else {
            guard let mount = mounts.v2 ?? mounts.v1Mount(for: "cpuacct") ?? mounts.v1Mount(for: "memory") ?? mounts.v1.first else {
                throw CgroupError(.noHierarchy, path: options.mountinfoPath, "no cgroup2 or cgroup mount; is /sys/fs/cgroup mounted?")
            }
            walked = mount
            root = mount.mountPoint
        }
        self.options = options
        self.mounts = mounts
        self.walked = walked
        self.root = root
        self.v2Controllers = mounts.v2.flatMap { v2 in
            (try? CgroupFileText.read(v2.mountPoint + "/cgroup.controllers")).map { $0.split(whereSeparator: \.isWhitespace).map(String.init) }
        }
        self.sources = CgroupCounterSources(
            walked: walked,
            cpuacct: fallback ? mounts.v1Mount(for: "cpuacct") : nil,
            memory: fallback ? mounts.v1Mount(for: "memory") : nil)
        self.logger = logger
        // A plain directory's files stay readable after removal; only cgroup files say ENODEV.
        self.openFiles = options.keepFilesOpen && fallback ? openFiles : OpenFileBudget(limit: 0)
        self.state = Mutex(State())
    }

    /// What the sampler found, for the agent's start-up log line.
    public var logMetadata: Logger.Metadata {
        let v1 = mounts.v1.map { mount in
            let what = mount.controllers.isEmpty ? "name=\(mount.name ?? "?")" : mount.controllers.joined(separator: ",")
            return "\(what):\(mount.mountPoint)"
        }
        var metadata: Logger.Metadata = [
            "cgroup.root": "\(root)",
            "cgroup.root.version": "\(walked.version.rawValue)",
            "cgroup.v2": "\(mounts.v2?.mountPoint ?? "none")",
            "cgroup.v1": "\(v1.isEmpty ? "none" : v1.joined(separator: " "))",
        ]
        if let v2Controllers { metadata["cgroup.v2.controllers"] = "\(v2Controllers.joined(separator: " "))" }
        if let match = options.match { metadata["cgroup.match"] = "\(match)" }
        return metadata
    }

    /// Lists the hierarchy under `root` (directories only) and returns the container cgroups, in
    /// path order. Throws only when `root` itself cannot be listed.
    public func discover() throws -> [CgroupContainer] {
        let walk = CgroupWalk(rootDirectory: root, mount: walked, match: options.match, maxDepth: options.maxDepth, maxEntries: options.maxEntries)
        let result = try walk.run()
        if let directory = result.cutAtDepth {
            reportOnce(
                "depth", "cgroup discovery skipped directories deeper than maxDepth",
                ["cgroup.maxDepth": "\(options.maxDepth)", "cgroup.directory": "\(directory)"])
        }
        if result.cutAtEntries {
            reportOnce(
                "entries", "cgroup discovery stopped after maxEntries directories; containers beyond were not found",
                ["cgroup.maxEntries": "\(options.maxEntries)", "cgroup.root": "\(root)"])
        }
        return result.found.compactMap { found in
            // The inode is the cgroup id; a directory gone since it was listed is simply not found.
            guard case .directory(let inode) = CgroupFile.directoryInode(found.directory) else { return nil }
            let kubernetes = found.kubernetes
            return CgroupContainer(
                cgroupID: inode, path: found.cgroupPath, podUID: kubernetes?.podUID, containerID: kubernetes?.containerID,
                runtime: kubernetes?.runtime, qosClass: kubernetes?.qosClass)
        }
    }

    /// Reads each container's counters, in the order given. Where a container's files are is worked
    /// out the first time it is read (checking its directory still has the inode discovery saw) and
    /// kept, with the files open; after that a read is two or three `pread`s into one reused
    /// buffer. A removed cgroup's open files answer ENODEV: it is gone, and its files are closed.
    public func read(_ containers: [CgroupContainer]) -> [CgroupReading] { read(containers, cpu: true) }

    /// `read`; with `cpu` false `cpu.stat` is skipped where memory files show the container
    /// is there, and CPU reads 0 (the eBPF sampler counts CPU itself).
    func read(_ containers: [CgroupContainer], cpu: Bool) -> [CgroupReading] {
        state.withLock { state in
            var buffer: [UInt8] = []
            swap(&buffer, &state.buffer)
            defer { swap(&buffer, &state.buffer) }
            var readings: [CgroupReading] = []
            readings.reserveCapacity(containers.count)
            buffer.withUnsafeMutableBytes { buffer in
                for container in containers {
                    guard let (plan, files) = plan(for: container, &state) else { continue }
                    switch CgroupCounterSources.read(plan, files: files, cpu: cpu, buffer: buffer) {
                    case .reading(let reading):
                        readings.append(reading)
                    case .gone:
                        state.plans[container] = nil
                    case .unreadable(let reason):
                        state.plans[container] = nil
                        report("unreadable \(container.path)", "cgroup counters unreadable; container left out", ["cgroup.path": "\(container.path)", "reason": "\(reason)"], &state)
                    }
                }
            }
            if state.plans.count > 2 * containers.count + 64 {
                let current = Set(containers)
                state.plans = state.plans.filter { current.contains($0.key) }
            }
            return readings
        }
    }

    private func plan(
        for container: CgroupContainer, _ state: inout State
    ) -> (plan: CgroupCounterSources.Plan, files: CgroupCounterSources.OpenFiles)? {
        if let planned = state.plans[container] { return planned }
        switch sources.resolve(container) {
        case .plan(let plan):
            if plan.memory == nil {
                report(
                    "memory \(container.path)", "no memory counters for this cgroup in v2 or v1; reporting a 0-byte working set",
                    ["cgroup.path": "\(container.path)"], &state)
            }
            let planned = (plan, CgroupCounterSources.OpenFiles(budget: openFiles))
            state.plans[container] = planned
            return planned
        case .gone:
            return nil
        case .noCPU:
            report(
                "cpu \(container.path)", "no CPU counter for this cgroup (v2 cpu.stat, v1 cpuacct.usage); container left out",
                ["cgroup.path": "\(container.path)"], &state)
            return nil
        case .unreadable(let reason):
            report("unreadable \(container.path)", "cgroup unreadable; container left out", ["cgroup.path": "\(container.path)", "reason": "\(reason)"], &state)
            return nil
        }
    }

    private func reportOnce(_ key: String, _ message: Logger.Message, _ metadata: Logger.Metadata) {
        state.withLock { report(key, message, metadata, &$0) }
    }

    private func report(_ key: String, _ message: Logger.Message, _ metadata: Logger.Metadata, _ state: inout State) {
        // Bounded: a node churning through containers must not grow this without end.
        if state.reported.count >= 10_000 { state.reported.removeAll() }
        if state.reported.insert(key).inserted {
            logger.info(message, metadata: metadata)
        } else {
            logger.debug(message, metadata: metadata)
        }
    }

    /// The canonical path (symlinks resolved, e.g. `cpuacct` -> `cpu,cpuacct` on v1 hosts), or the
    /// path tidied when it does not exist yet.
    private static func resolve(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return CgroupPathText.normalize(path) }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
