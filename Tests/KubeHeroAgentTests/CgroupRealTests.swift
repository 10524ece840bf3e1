import Foundation
@testable import KubeHeroAgent
import Logging
import Testing

/// The sampler against this machine's real cgroups, made (and removed) by the tests, with real
/// processes burning CPU and holding memory in them. Needs root.
///
/// On a hybrid host the v2 hierarchy offers no cpu or memory controller (both are bound to v1):
/// CPU then comes from the v2 `cpu.stat` the cgroup core keeps for every cgroup, and memory from
/// the v1 memory hierarchy at the same cgroup path, which is what the tests create. On a pure v2
/// host they enable cpu and memory below their own top cgroup instead.
@Suite("Cgroups on this machine", .serialized, .enabled(if: CgroupTestHost.v2 != nil, "needs root and a writable cgroup v2 mount"))
struct CgroupRealTests {
    static func hex(_ seed: Int) -> String {
        String(repeating: String(format: "%08x", seed), count: 8)
    }

    @Test("default options walk this host's v2 mount and report the v1 mounts beside it")
    func defaultOptions() throws {
        let v2 = try #require(CgroupTestHost.v2)
        let sampler = try CgroupfsSampler(options: CgroupOptions())
        #expect(sampler.root == v2.mountPoint)
        #expect(sampler.logMetadata["cgroup.v2"] == "\(v2.mountPoint)")
        #expect(sampler.v2Controllers == CgroupTestHost.v2Controllers)
        print("start-up metadata: \(sampler.logMetadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }

    @Test("v2 walk: discovery finds the test's pod containers; CPU and memory readings follow real processes")
    func v2BurnerAndHog() async throws {
        let cgroups = try TestCgroups(in: CgroupTestHost.v2Hierarchies())
        defer { #expect(cgroups.removeAll().isEmpty, "cgroups left behind") }
        let v2 = try #require(CgroupTestHost.v2)
        let burnerPath = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-\(Self.hex(1)).scope"
        let hogPath = "kubepods.slice/kubepods-pod8765_4321.slice/crio-\(Self.hex(2)).scope"
        try cgroups.make(burnerPath)
        try cgroups.make(hogPath)

        let burner = try CgroupTestProcess(script: CgroupTestProcess.burnerScript)
        defer { burner.stop() }
        try cgroups.move(burner.pid, into: burnerPath)
        burner.start()
        let hog = try CgroupTestProcess(script: CgroupTestProcess.hogScript(mebibytes: 64))
        defer { hog.stop() }
        try cgroups.move(hog.pid, into: hogPath)
        hog.start()
        #expect(hog.readLine() == "ready")

        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: cgroups.directory("", in: v2)))
        #expect(sampler.root == cgroups.directory("", in: v2))
        let containers = try sampler.discover()
        try #require(containers.count == 2)
        let burnerContainer = try #require(containers.first { $0.containerID == Self.hex(1) })
        let hogContainer = try #require(containers.first { $0.containerID == Self.hex(2) })
        #expect(
            burnerContainer
                == CgroupContainer(
                    cgroupID: try CgroupFixtures.inodeNumber(cgroups.directory(burnerPath, in: v2)), path: cgroups.cgroupPath(burnerPath),
                    podUID: "1234-5678", containerID: Self.hex(1), runtime: "containerd", qosClass: "burstable"))
        #expect(hogContainer.podUID == "8765-4321" && hogContainer.runtime == "crio" && hogContainer.qosClass == "guaranteed")
        #expect(hogContainer.cgroupID == (try CgroupFixtures.inodeNumber(cgroups.directory(hogPath, in: v2))))

        // CPU: the cgroup's growth over a second matches the burner's own CPU time.
        let process0 = try burner.cpuNanos()
        let before = try #require(sampler.read([burnerContainer]).first)
        try await Task.sleep(for: .seconds(1))
        let after = try #require(sampler.read([burnerContainer]).first)
        let process1 = try burner.cpuNanos()
        let own = try cgroups.cpuUsageNanos(burnerPath)
        let grown = Int64(after.cpuUsageNanos) - Int64(before.cpuUsageNanos)
        let burned = Int64(process1) - Int64(process0)
        print("v2 cpu.stat: cgroup grew \(grown / 1_000_000) ms, burner used \(burned / 1_000_000) ms")
        // (50 ms: on a loaded 2-core machine, with builds running, a burner may get a tenth of a CPU.)
        #expect(grown > 50_000_000, "the burner should get a fair share of a CPU in a second")
        #expect(abs(grown - burned) <= burned / 20 + 20_000_000, "within 5% + two clock ticks of the process's own CPU time")
        #expect(own >= after.cpuUsageNanos && own - after.cpuUsageNanos < 100_000_000, "the reading is the cgroup's cpu.stat")

        // Memory: the hog's 64 MiB, read from v2 memory.* or, on hybrid hosts, v1 at the same path.
        let reading = try #require(sampler.read([hogContainer]).first)
        let expected = try cgroups.workingSetBytes(hogPath)
        let memoryHierarchy = cgroups.hierarchies.first { $0.controllers.contains("memory") } ?? v2
        print("memory from \(cgroups.directory(hogPath, in: memoryHierarchy)): working set \(reading.memoryWorkingSetBytes >> 20) MiB")
        #expect(reading.memoryWorkingSetBytes >= 62 << 20 && reading.memoryWorkingSetBytes <= 112 << 20)
        let difference = Int64(reading.memoryWorkingSetBytes) - Int64(expected)
        #expect(abs(difference) < 4 << 20, "the files say \(expected)")
    }

    @Test(
        "v1 walk (cgroupfs driver layout in the cpuacct hierarchy): CPU from cpuacct.usage, memory from the v1 memory hierarchy",
        .enabled(if: CgroupTestHost.v1CPUAcct != nil && CgroupTestHost.v1Memory != nil, "needs v1 cpuacct and memory hierarchies"))
    func v1Burner() async throws {
        let cpuacct = try #require(CgroupTestHost.v1CPUAcct)
        let v1Memory = try #require(CgroupTestHost.v1Memory)
        let cgroups = try TestCgroups(in: [cpuacct, v1Memory])
        defer { #expect(cgroups.removeAll().isEmpty, "cgroups left behind") }
        let uid = "5b0c8a1e-2f3d-4e5a-8b6c-7d8e9f0a1b2c"
        let path = "kubepods/burstable/pod\(uid)/\(Self.hex(3))"
        let hogPath = "kubepods/besteffort/pod\(uid)/\(Self.hex(6))"
        try cgroups.make(path)
        try cgroups.make(hogPath)
        let burner = try CgroupTestProcess(script: CgroupTestProcess.burnerScript)
        defer { burner.stop() }
        try cgroups.move(burner.pid, into: path)
        burner.start()
        let hog = try CgroupTestProcess(script: CgroupTestProcess.hogScript(mebibytes: 64))
        defer { hog.stop() }
        try cgroups.move(hog.pid, into: hogPath)
        hog.start()
        #expect(hog.readLine() == "ready")

        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: cgroups.directory("", in: cpuacct)))
        #expect(sampler.logMetadata["cgroup.root.version"] == "v1")
        let containers = try sampler.discover()
        #expect(
            containers == [
                CgroupContainer(
                    cgroupID: try CgroupFixtures.inodeNumber(cgroups.directory(hogPath, in: cpuacct)), path: cgroups.cgroupPath(hogPath), podUID: uid,
                    containerID: Self.hex(6), runtime: nil, qosClass: "besteffort"),
                CgroupContainer(
                    cgroupID: try CgroupFixtures.inodeNumber(cgroups.directory(path, in: cpuacct)), path: cgroups.cgroupPath(path), podUID: uid,
                    containerID: Self.hex(3), runtime: nil, qosClass: "burstable"),
            ])
        try #require(containers.count == 2)
        let burnerContainer = containers[1]

        let process0 = try burner.cpuNanos()
        let before = try #require(sampler.read([burnerContainer]).first)
        try await Task.sleep(for: .seconds(1))
        let after = try #require(sampler.read([burnerContainer]).first)
        let process1 = try burner.cpuNanos()
        let own = try cgroups.cpuUsageNanos(path)
        let grown = Int64(after.cpuUsageNanos) - Int64(before.cpuUsageNanos)
        let burned = Int64(process1) - Int64(process0)
        print("v1 cpuacct.usage: cgroup grew \(grown / 1_000_000) ms, burner used \(burned / 1_000_000) ms")
        #expect(grown > 50_000_000, "the burner should get a fair share of a CPU in a second (a loaded machine gives it less)")
        #expect(abs(grown - burned) <= burned / 20 + 20_000_000)
        #expect(own >= after.cpuUsageNanos && own - after.cpuUsageNanos < 100_000_000)

        let memory = try #require(sampler.read([containers[0]]).first).memoryWorkingSetBytes
        let expected = try cgroups.workingSetBytes(hogPath)
        print("v1 memory: working set \(memory >> 20) MiB")
        #expect(memory >= 62 << 20 && memory <= 112 << 20)
        #expect(abs(Int64(memory) - Int64(expected)) < 4 << 20, "the files say \(expected)")
    }

    @Test("a container whose cgroup is removed after one read is left out of the next, and out of discovery")
    func vanishedContainer() throws {
        let v2 = try #require(CgroupTestHost.v2)
        let cgroups = try TestCgroups(in: CgroupTestHost.v2Hierarchies())
        defer { #expect(cgroups.removeAll().isEmpty, "cgroups left behind") }
        let gone = "kubepods/besteffort/pod1111-2222/\(Self.hex(4))"
        let stays = "kubepods/besteffort/pod1111-2222/\(Self.hex(5))"
        try cgroups.make(gone)
        try cgroups.make(stays)
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: cgroups.directory("", in: v2)))
        let containers = try sampler.discover()
        #expect(containers.map(\.containerID) == [Self.hex(4), Self.hex(5)])
        #expect(sampler.read(containers).count == 2)
        // Each container's files stay open between reads (CPU, memory usage, memory.stat).
        let perContainer = sampler.openFiles.inUse / 2
        #expect(sampler.openFiles.inUse == 2 * perContainer && perContainer >= 1, "open: \(sampler.openFiles.inUse)")
        #expect(sampler.read(containers).count == 2)
        #expect(sampler.openFiles.inUse == 2 * perContainer, "a second read opens nothing more")
        try cgroups.remove(gone)
        // Its open files now answer ENODEV: it is gone, and they are closed.
        #expect(sampler.read(containers).map(\.cgroupID) == [containers[1].cgroupID])
        #expect(sampler.openFiles.inUse == perContainer)
        #expect(try sampler.discover().map(\.containerID) == [Self.hex(5)])
    }

    @Test("over the open-file budget counters are read by path, with the same values; CPU can be left to eBPF")
    func openFileBudget() throws {
        let v2 = try #require(CgroupTestHost.v2)
        let cgroups = try TestCgroups(in: CgroupTestHost.v2Hierarchies())
        defer { #expect(cgroups.removeAll().isEmpty, "cgroups left behind") }
        let path = "kubepods/burstable/pod3333-4444/\(Self.hex(7))"
        try cgroups.make(path)
        let hog = try CgroupTestProcess(script: CgroupTestProcess.hogScript(mebibytes: 16))
        defer { hog.stop() }
        try cgroups.move(hog.pid, into: path)
        hog.start()
        #expect(hog.readLine() == "ready")
        let options = CgroupOptions(cgroupRoot: cgroups.directory("", in: v2))
        let logger = Logger(label: "test")
        let open = try CgroupfsSampler(options: options, openFiles: OpenFileBudget(limit: 100), logger: logger)
        let byPath = try CgroupfsSampler(options: options, openFiles: OpenFileBudget(limit: 1), logger: logger)
        let containers = try open.discover()
        for _ in 0..<3 {
            let a = try #require(open.read(containers).first)
            let b = try #require(byPath.read(containers).first)
            #expect(b.memoryWorkingSetBytes == a.memoryWorkingSetBytes && a.memoryWorkingSetBytes >= 15 << 20, "\(a) \(b)")
            #expect(b.cpuUsageNanos >= a.cpuUsageNanos && a.cpuUsageNanos > 0)
        }
        #expect(byPath.openFiles.inUse == 1, "one file open, the rest read by path")
        #expect(open.openFiles.inUse == 3)
        // For the eBPF sampler: no CPU read (0), memory as before.
        let noCPU = try #require(open.read(containers, cpu: false).first)
        #expect(noCPU.cpuUsageNanos == 0 && noCPU.memoryWorkingSetBytes >= 15 << 20)
    }

    @Test("reading 200 containers: a measurement, printed (not asserted)")
    func twoHundredContainers() throws {
        let v2 = try #require(CgroupTestHost.v2)
        let cgroups = try TestCgroups(in: CgroupTestHost.v2Hierarchies())
        defer { #expect(cgroups.removeAll().isEmpty, "cgroups left behind") }
        for i in 0..<200 {
            try cgroups.make("kubepods/burstable/pod\(String(format: "%08x", i))-0000/\(Self.hex(1000 + i))")
        }
        let sampler = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: cgroups.directory("", in: v2)))
        let clock = ContinuousClock()
        var containers: [CgroupContainer] = []
        let discovery = try clock.measure { containers = try sampler.discover() }
        #expect(containers.count == 200)
        let first = clock.measure { #expect(sampler.read(containers).count == 200) }
        let rounds = 50
        let steady = clock.measure {
            for _ in 0..<rounds { _ = sampler.read(containers) }
        }
        print(
            "200 containers (\(cgroups.hierarchies.map(\.mountPoint).joined(separator: " + "))): discovery \(discovery), first read \(first), "
                + "then \(steady / rounds) per read of all 200 (\(steady / rounds / 200) per container)")
        // The whole node's hierarchy, as the agent would walk it by default.
        let whole = try CgroupfsSampler(options: CgroupOptions(cgroupRoot: v2.mountPoint))
        var found = 0
        let wholeDiscovery = try clock.measure { found = try whole.discover().count }
        print("discovery over all of \(v2.mountPoint): \(wholeDiscovery), \(found) containers")
    }
}
