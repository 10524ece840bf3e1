/// Where a container's counters are, decided once per container: on v2 its own `cpu.stat` and
/// `memory.*`; where the v2 cgroup lacks a controller's files (hybrid hosts bind cpu and memory to
/// v1), the v1 hierarchy's files at the same cgroup path.
struct CgroupCounterSources {
    /// The hierarchy discovery walks; containers' paths are cgroup paths in it.
    var walked: CgroupMount
    /// v1 hierarchies to fall back to (none for a plain directory standing in for a hierarchy).
    var cpuacct: CgroupMount?
    var memory: CgroupMount?

    enum CPU: Hashable {
        /// v2 `cpu.stat`, `usage_usec` (present without the cpu controller: the core accounts it).
        case v2Stat(String)
        /// v1 `cpuacct.usage`, nanoseconds.
        case v1Usage(String)
    }

    enum Memory: Hashable {
        /// v2 `memory.current` and `memory.stat` (`inactive_file`).
        case v2(current: String, stat: String)
        /// v1 `memory.usage_in_bytes` and `memory.stat` (`total_inactive_file`).
        case v1(usage: String, stat: String)
    }

    struct Plan: Hashable {
        var cgroupID: UInt64
        var cpu: CPU
        /// nil when no hierarchy has the container's memory files: reported as 0 bytes.
        var memory: Memory?
    }

    enum Resolution: Equatable {
        case plan(Plan)
        /// The cgroup is gone (or was replaced: its directory has another inode now).
        case gone
        /// No CPU counter anywhere: the container is left out rather than reported idle.
        case noCPU
        case unreadable(String)
    }

    func resolve(_ container: CgroupContainer) -> Resolution {
        guard let directory = walked.filesystemPath(forCgroup: container.path) else {
            return .unreadable("\(container.path) is not in the hierarchy mounted at \(walked.mountPoint)")
        }
        switch CgroupFile.directoryInode(directory) {
        case .directory(let inode) where inode == container.cgroupID:
            break
        case .directory, .gone, .notADirectory:
            return .gone
        case .failed(let error):
            return .unreadable("\(directory): \(CgroupFile.describe(error))")
        }
        let cpu: CPU
        if walked.version == .v2, CgroupFile.exists(directory + "/cpu.stat") {
            cpu = .v2Stat(directory + "/cpu.stat")
        } else if let v1 = v1Directory(container.path, walkedDirectory: directory, controller: "cpuacct", mount: cpuacct),
            CgroupFile.exists(v1 + "/cpuacct.usage")
        {
            cpu = .v1Usage(v1 + "/cpuacct.usage")
        } else {
            return .noCPU
        }
        var memory: Memory?
        if walked.version == .v2, CgroupFile.exists(directory + "/memory.current") {
            memory = .v2(current: directory + "/memory.current", stat: directory + "/memory.stat")
        } else if let v1 = v1Directory(container.path, walkedDirectory: directory, controller: "memory", mount: self.memory),
            CgroupFile.exists(v1 + "/memory.usage_in_bytes")
        {
            memory = .v1(usage: v1 + "/memory.usage_in_bytes", stat: v1 + "/memory.stat")
        }
        return .plan(Plan(cgroupID: container.cgroupID, cpu: cpu, memory: memory))
    }

    private func v1Directory(_ cgroupPath: String, walkedDirectory: String, controller: String, mount: CgroupMount?) -> String? {
        if walked.version == .v1, walked.controllers.contains(controller) { return walkedDirectory }
        return mount?.filesystemPath(forCgroup: cgroupPath)
    }

    enum Outcome: Equatable {
        case reading(CgroupReading)
        case gone
        case unreadable(String)
    }

    private static let usageUsec = Array("usage_usec".utf8)
    private static let inactiveFile = Array("inactive_file".utf8)
    private static let totalInactiveFile = Array("total_inactive_file".utf8)

    /// A container's counter files, opened at its first read and kept open while the sampler
    /// knows the container (`budget` permitting; a file over budget is read by path).
    final class OpenFiles {
        var cpu: OpenCgroupFile?
        var usage: OpenCgroupFile?
        var stat: OpenCgroupFile?
        let budget: OpenFileBudget

        init(budget: OpenFileBudget) { self.budget = budget }
    }

    /// Reads one container's counters through `buffer`, which is reused from file to file, and
    /// `files`. With `cpu` false (the CPU comes from eBPF) `cpu.stat` is not read, and the reading's
    /// CPU is 0, unless the container has no memory files (then CPU is what shows it is still there).
    static func read(_ plan: Plan, files: OpenFiles, cpu readCPU: Bool = true, buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        var cpuNanos: UInt64 = 0
        switch plan.cpu {
        case _ where !readCPU && plan.memory != nil:
            break
        case .v2Stat(let path):
            switch number(path, key: usageUsec, buffer, &files.cpu, files.budget) {
            case .value(let micros):
                let (nanos, overflow) = micros.multipliedReportingOverflow(by: 1000)
                if overflow { return .unreadable("\(path): usage_usec \(micros) out of range") }
                cpuNanos = nanos
            case .gone: return .gone
            case .unreadable(let reason): return .unreadable(reason)
            }
        case .v1Usage(let path):
            switch number(path, key: nil, buffer, &files.cpu, files.budget) {
            case .value(let nanos): cpuNanos = nanos
            case .gone: return .gone
            case .unreadable(let reason): return .unreadable(reason)
            }
        }
        var workingSet: UInt64 = 0
        if let memory = plan.memory {
            let (usagePath, statPath, key) =
                switch memory {
                case .v2(let current, let stat): (current, stat, inactiveFile)
                case .v1(let usage, let stat): (usage, stat, totalInactiveFile)
                }
            let usage: UInt64
            switch number(usagePath, key: nil, buffer, &files.usage, files.budget) {
            case .value(let value): usage = value
            case .gone: return .gone
            case .unreadable(let reason): return .unreadable(reason)
            }
            switch number(statPath, key: key, buffer, &files.stat, files.budget) {
            case .value(let inactive): workingSet = usage > inactive ? usage - inactive : 0
            case .gone: return .gone
            case .unreadable(let reason): return .unreadable(reason)
            }
        }
        return .reading(CgroupReading(cgroupID: plan.cgroupID, cpuUsageNanos: cpuNanos, memoryWorkingSetBytes: workingSet))
    }

    private enum Number {
        case value(UInt64)
        case gone
        case unreadable(String)
    }

    /// The number in a single-value file (`key` nil) or under `key` in a flat-keyed file; read
    /// through `file`, which is opened here first if the budget allows.
    private static func number(
        _ path: String, key: [UInt8]?, _ buffer: UnsafeMutableRawBufferPointer, _ file: inout OpenCgroupFile?, _ budget: OpenFileBudget
    ) -> Number {
        if file == nil { file = OpenCgroupFile.open(path, budget: budget) }
        switch file?.read(into: buffer) ?? CgroupFile.read(path, into: buffer) {
        case .bytes(let count):
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            if let key {
                guard let value = CgroupFile.value(forKey: key, in: bytes) else {
                    return .unreadable("\(path): no number under '\(String(decoding: key, as: UTF8.self))'")
                }
                return .value(value)
            }
            guard let value = CgroupFile.parseUInt(bytes) else { return .unreadable("\(path): not a number") }
            return .value(value)
        case .gone:
            return .gone
        case .failed(let error):
            return .unreadable("\(path): \(CgroupFile.describe(error))")
        }
    }
}
