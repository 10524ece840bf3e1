import Foundation
@testable import KubeHeroAgent
import KubeHeroCore
import Testing

/// Counter parsing, and the sampler over a fake tree (plain files laid out like cgroup v2).
@Suite("Cgroup counters and discovery on a fake tree")
struct CgroupReadingTests {
    static let id = String(repeating: "ab", count: 32)
    static let burstable = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-\(id).scope"
    static let guaranteed = "kubepods/pod1234-9999/\(id)"

    func parse(_ text: String, key: String? = nil) -> UInt64? {
        Array(text.utf8).withUnsafeBytes { bytes in
            key.map { CgroupFile.value(forKey: Array($0.utf8), in: bytes) } ?? CgroupFile.parseUInt(bytes)
        }
    }

    @Test("single-value files: digits up to the newline; anything else is not a number")
    func singleValues() {
        #expect(parse("123456789\n") == 123_456_789)
        #expect(parse("0") == 0)
        #expect(parse("18446744073709551615\n") == UInt64.max)
        #expect(parse("18446744073709551616\n") == nil)
        #expect(parse("max\n") == nil)
        #expect(parse("") == nil)
        #expect(parse("12x\n") == nil)
    }

    @Test("flat-keyed files: the exact key at a line start, never a longer key or a suffix")
    func keyedValues() {
        let cpuStat = "usage_usec 5024711\nuser_usec 3010000\nsystem_usec 2014711\nnr_periods 0\n"
        #expect(parse(cpuStat, key: "usage_usec") == 5_024_711)
        #expect(parse(cpuStat, key: "system_usec") == 2_014_711)
        #expect(parse(cpuStat, key: "usec") == nil)
        #expect(parse(CgroupFixtures.v1MemoryStat(totalInactiveFile: 4096), key: "inactive_file") == 999)
        #expect(parse(CgroupFixtures.v1MemoryStat(totalInactiveFile: 4096), key: "total_inactive_file") == 4096)
        #expect(parse("inactive_file_extra 1\ninactive_file 2", key: "inactive_file") == 2)
        #expect(parse("nr_periods 0\n", key: "usage_usec") == nil)
        #expect(parse("usage_usec \n", key: "usage_usec") == nil)
    }

    func writeV2Container(_ tree: FakeCgroupTree, _ path: String, usageUsec: UInt64, current: UInt64, inactive: UInt64) throws {
        try tree.file(path + "/cpu.stat", "usage_usec \(usageUsec)\nuser_usec 1\nsystem_usec 2\n")
        try tree.file(path + "/memory.current", "\(current)\n")
        try tree.file(path + "/memory.stat", CgroupFixtures.v2MemoryStat(inactiveFile: inactive))
    }

    @Test("a fake v2 tree: Kubernetes containers found by path, read from cpu.stat and memory files")
    func fakeTree() throws {
        let tree = try FakeCgroupTree()
        try writeV2Container(tree, Self.burstable, usageUsec: 2_500_000, current: 100 << 20, inactive: 30 << 20)
        try writeV2Container(tree, Self.guaranteed, usageUsec: 7, current: 10, inactive: 20)
        try tree.directory("system.slice/containerd.service")
        try tree.directory("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-\(Self.id).scope/nested")

        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root))
        #expect(sampler.root == tree.root)
        let containers = try sampler.discover()
        // depth-first in name order: `kubepods` sorts before `kubepods.slice`
        #expect(containers.map(\.path) == ["/" + Self.guaranteed, "/" + Self.burstable])
        let guaranteed = containers[0], burstable = containers[1]
        #expect(
            burstable
                == CgroupContainer(
                    cgroupID: try tree.inode(Self.burstable), path: "/" + Self.burstable, podUID: "1234-5678", containerID: Self.id,
                    runtime: "containerd", qosClass: "burstable"))
        #expect(
            guaranteed
                == CgroupContainer(
                    cgroupID: try tree.inode(Self.guaranteed), path: "/" + Self.guaranteed, podUID: "1234-9999", containerID: Self.id,
                    runtime: nil, qosClass: "guaranteed"))

        let readings = sampler.read(containers)
        #expect(
            readings == [
                // more inactive file cache than usage: the working set floors at 0
                CgroupReading(cgroupID: guaranteed.cgroupID, cpuUsageNanos: 7000, memoryWorkingSetBytes: 0),
                CgroupReading(cgroupID: burstable.cgroupID, cpuUsageNanos: 2_500_000_000, memoryWorkingSetBytes: 70 << 20),
            ])

        try tree.file(Self.burstable + "/cpu.stat", "usage_usec 3500000\n")
        #expect(sampler.read(containers).last?.cpuUsageNanos == 3_500_000_000, "counters are re-read every time")
    }

    @Test("a container whose directory vanished is left out of the next read")
    func vanished() throws {
        let tree = try FakeCgroupTree()
        try writeV2Container(tree, Self.burstable, usageUsec: 1, current: 1, inactive: 0)
        try writeV2Container(tree, Self.guaranteed, usageUsec: 2, current: 1, inactive: 0)
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root))
        let containers = try sampler.discover()
        #expect(sampler.read(containers).count == 2)
        try tree.remove(Self.guaranteed)
        #expect(sampler.read(containers).map(\.cpuUsageNanos) == [1000])
        #expect(try sampler.discover().count == 1)
    }

    @Test("a directory replaced under the same path is not read as the old container")
    func replaced() throws {
        let tree = try FakeCgroupTree()
        try writeV2Container(tree, Self.guaranteed, usageUsec: 2, current: 1, inactive: 0)
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root))
        let old = try sampler.discover()
        // moved, not removed, so that its inode stays taken and the new directory gets another
        try tree.move(Self.guaranteed, to: "kubepods/pod1234-9999/old")
        try writeV2Container(tree, Self.guaranteed, usageUsec: 5, current: 1, inactive: 0)
        #expect(sampler.read(old).isEmpty)
        let new = try sampler.discover()
        #expect(sampler.read(new).map(\.cpuUsageNanos) == [5000])
    }

    @Test("no CPU counter: left out rather than reported idle; no memory files: memory 0")
    func missingFiles() throws {
        let tree = try FakeCgroupTree()
        try tree.file(Self.burstable + "/memory.current", "5\n")
        try tree.file(Self.guaranteed + "/cpu.stat", "usage_usec 9\n")
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root))
        let containers = try sampler.discover()
        #expect(containers.count == 2)
        let guaranteed = try #require(containers.first { $0.path == "/" + Self.guaranteed })
        #expect(sampler.read(containers) == [CgroupReading(cgroupID: guaranteed.cgroupID, cpuUsageNanos: 9000, memoryWorkingSetBytes: 0)])
    }

    @Test("a malformed counter leaves the container out, the others are read")
    func malformedCounter() throws {
        let tree = try FakeCgroupTree()
        try writeV2Container(tree, Self.burstable, usageUsec: 1, current: 1, inactive: 0)
        try writeV2Container(tree, Self.guaranteed, usageUsec: 2, current: 1, inactive: 0)
        try tree.file(Self.burstable + "/cpu.stat", "user_usec 1\n")
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root))
        #expect(sampler.read(try sampler.discover()).map(\.cpuUsageNanos) == [2000])
    }

    @Test("a match glob makes every matching directory a container, component by component")
    func matchGlob() throws {
        let tree = try FakeCgroupTree()
        for path in ["demo/web", "demo/db", "demo/db/replica", "other/web", Self.guaranteed] {
            try tree.file(path + "/cpu.stat", "usage_usec 1\n")
        }
        func found(_ glob: String) throws -> [String] {
            try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root, match: glob)).discover().map(\.path)
        }
        #expect(try found("demo/*") == ["/demo/db", "/demo/web"])
        #expect(try found("/demo/*") == ["/demo/db", "/demo/web"])
        #expect(try found("*/web") == ["/demo/web", "/other/web"])
        #expect(try found("demo/*/*") == ["/demo/db/replica"])
        #expect(try found("nothing*").isEmpty)
        // a glob over kubelet's layout keeps what the path says
        let k8s = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root, match: "kubepods/*/*")).discover()
        #expect(k8s.map(\.podUID) == ["1234-9999"])
        let plain = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root, match: "demo/web")).discover()
        #expect(plain.count == 1 && plain[0].podUID == nil && plain[0].containerID == nil && plain[0].qosClass == nil)
    }

    @Test("the walk stops at maxDepth and maxEntries, and says so without failing")
    func bounds() throws {
        let tree = try FakeCgroupTree()
        let deep = (1...40).map { "d\($0)" }.joined(separator: "/")
        try tree.directory(deep + "/kubepods/pod1234-9999/\(Self.id)")
        try tree.directory(Self.guaranteed.replacingOccurrences(of: "9999", with: "0000"))
        let bounded = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root))
        #expect(try bounded.discover().map(\.podUID) == ["1234-0000"], "the container 43 levels down is beyond maxDepth 32")
        let deeper = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: tree.root, maxDepth: 64))
        #expect(try deeper.discover().map(\.podUID) == ["1234-9999", "1234-0000"])

        let walk = CgroupWalk(rootDirectory: tree.root, mount: CgroupMount(version: .v2, mountPoint: tree.root), match: nil, maxDepth: 32, maxEntries: 5)
        let result = try walk.run()
        #expect(result.cutAtEntries)
        #expect(result.directoriesVisited == 5)
        let depthCut = try CgroupWalk(rootDirectory: tree.root, mount: CgroupMount(version: .v2, mountPoint: tree.root), match: nil, maxDepth: 3, maxEntries: 100).run()
        #expect(depthCut.cutAtDepth == tree.root + "/d1/d2/d3")
    }

    @Test("a root that cannot be listed is an error naming it")
    func missingRoot() throws {
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: "/nonexistent/kubehero"))
        #expect {
            try sampler.discover()
        } throws: { error in
            (error as? CgroupError)?.code == .unreadable && "\(error)".contains("/nonexistent/kubehero")
        }
    }
}
