import Foundation
@testable import KubeHeroAgent

// Reading real cgroups the way the tests check the agent: with Foundation, from the files the
// kernel keeps for the cgroup itself, independently of the sampler's parsers. Shared by the
// sampler tests (CgroupRealTests) and the agent's end-to-end tests.

extension CgroupTestHost {
    /// The hierarchies a test that walks v2 creates its cgroups in: v2, plus the v1 memory
    /// hierarchy when v2 has no memory controller (a hybrid host), because that is where the
    /// sampler reads memory for a v2 cgroup then.
    static func v2Hierarchies() throws -> [CgroupMount] {
        guard let v2 else { throw TestCgroupError("no writable cgroup v2 mount (needs root)") }
        if v2Controllers.contains("memory") { return [v2] }
        return [v2] + [v1Memory].compactMap { $0 }
    }
}

extension TestCgroups {
    /// CPU the cgroup `relative` has used, in nanoseconds: v2 `cpu.stat` `usage_usec` (kept
    /// for every v2 cgroup, with or without the cpu controller), else v1 `cpuacct.usage`.
    func cpuUsageNanos(_ relative: String) throws -> UInt64 {
        if let v2 = hierarchies.first(where: { $0.version == .v2 }) {
            return try CgroupFixtures.counterFile(directory(relative, in: v2) + "/cpu.stat", key: "usage_usec") * 1000
        }
        guard let cpuacct = hierarchies.first(where: { $0.controllers.contains("cpuacct") }) else {
            throw TestCgroupError("the test's hierarchies have no CPU counter")
        }
        return try CgroupFixtures.counterFile(directory(relative, in: cpuacct) + "/cpuacct.usage")
    }

    /// The working set of the cgroup `relative` as the agent defines it: v1 `memory.usage_in_bytes`
    /// minus `total_inactive_file` where a v1 memory hierarchy holds the cgroup, else v2
    /// `memory.current` minus `inactive_file`.
    func workingSetBytes(_ relative: String) throws -> UInt64 {
        if let v1 = hierarchies.first(where: { $0.version == .v1 && $0.controllers.contains("memory") }) {
            let directory = directory(relative, in: v1)
            let usage = try CgroupFixtures.counterFile(directory + "/memory.usage_in_bytes")
            let inactive = try CgroupFixtures.counterFile(directory + "/memory.stat", key: "total_inactive_file")
            return usage - min(inactive, usage)
        }
        guard let v2 = hierarchies.first(where: { $0.version == .v2 }) else {
            throw TestCgroupError("the test's hierarchies have no memory counters")
        }
        let directory = directory(relative, in: v2)
        let current = try CgroupFixtures.counterFile(directory + "/memory.current")
        let inactive = try CgroupFixtures.counterFile(directory + "/memory.stat", key: "inactive_file")
        return current - min(inactive, current)
    }
}
