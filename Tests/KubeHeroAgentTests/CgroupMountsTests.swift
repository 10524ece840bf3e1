@testable import KubeHeroAgent
import KubeHeroCore
import Logging
import Testing

/// Mount discovery on recorded `/proc/self/mountinfo` text.
@Suite("Cgroup mounts")
struct CgroupMountsTests {
    /// Ubuntu 20.04 with systemd's default hybrid layout: controllers on v1, an empty unified hierarchy.
    static let hybrid = """
        22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
        28 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
        25 22 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        31 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
        32 25 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
        33 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
        34 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
        35 25 0:33 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,cpuset,clone_children

        """

    /// Debian 12 / Ubuntu 22.04: the unified hierarchy only.
    static let pureV2 = """
        24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        30 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,discard,errors=remount-ro
        35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        36 24 0:31 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw
        """

    /// CentOS 7: v1 only, no unified hierarchy; controller order in the options is the kernel's.
    static let v1Only = """
        18 61 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw,seclabel
        24 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,seclabel,mode=755
        25 24 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,seclabel,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
        28 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,seclabel,cpuacct,cpu
        30 24 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,seclabel,memory
        31 24 0:28 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,seclabel,blkio
        """

    @Test("hybrid host: the unified mount and the v1 controller mounts")
    func hybridHost() throws {
        let mounts = try CgroupMounts.parse(mountinfo: Self.hybrid)
        #expect(mounts.v2 == CgroupMount(version: .v2, mountPoint: "/sys/fs/cgroup/unified"))
        #expect(mounts.v1Mount(for: "cpuacct")?.mountPoint == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(mounts.v1Mount(for: "cpu")?.controllers == ["cpu", "cpuacct"])
        #expect(mounts.v1Mount(for: "memory")?.mountPoint == "/sys/fs/cgroup/memory")
        #expect(mounts.v1Mount(for: "cpuset")?.controllers == ["cpuset"], "clone_children is an option, not a controller")
        let systemd = try #require(mounts.v1.first { $0.name == "systemd" })
        #expect(systemd.controllers.isEmpty)
        #expect(mounts.v1.count == 6)
    }

    @Test("pure v2 host: one cgroup2 mount, no v1")
    func pureV2Host() throws {
        let mounts = try CgroupMounts.parse(mountinfo: Self.pureV2)
        #expect(mounts.v2?.mountPoint == "/sys/fs/cgroup")
        #expect(mounts.v2?.root == "/")
        #expect(mounts.v1.isEmpty)
    }

    @Test("v1-only host: controllers from super options, valued options ignored")
    func v1OnlyHost() throws {
        let mounts = try CgroupMounts.parse(mountinfo: Self.v1Only)
        #expect(mounts.v2 == nil)
        #expect(mounts.v1Mount(for: "cpuacct") == CgroupMount(version: .v1, mountPoint: "/sys/fs/cgroup/cpu,cpuacct", controllers: ["cpu", "cpuacct"]))
        #expect(mounts.v1Mount(for: "memory")?.controllers == ["memory"], "seclabel is not a controller")
        #expect(mounts.v1.first { $0.name == "systemd" }?.controllers == [])
    }

    @Test("this machine's layout: cpu and cpuacct on separate v1 mounts")
    func separateCPUAndCPUAcct() throws {
        let text = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let mounts = try CgroupMounts.parse(mountinfo: text)
        #expect(mounts.v1Mount(for: "cpu")?.mountPoint == "/sys/fs/cgroup/cpu")
        #expect(mounts.v1Mount(for: "cpuacct")?.mountPoint == "/sys/fs/cgroup/cpuacct")
        #expect(mounts.v2?.mountPoint == "/sys/fs/cgroup/unified")
    }

    @Test("octal escapes in paths are decoded, optional fields of any number are skipped")
    func escapesAndOptionalFields() throws {
        let text = #"""
            90 25 0:40 /pods\040a /mnt/my\040cgroups\011x\134y rw,relatime shared:5 master:1 propagate_from:2 - cgroup2 cgroup2 rw
            """#
        let mount = try #require(try CgroupMounts.parse(mountinfo: text).v2)
        #expect(mount.mountPoint == "/mnt/my cgroups\tx\\y")
        #expect(mount.root == "/pods a")
    }

    @Test("of two mounts of the unified hierarchy, the one showing its root wins")
    func bindMountOfSubtree() throws {
        let text = """
            1402 1398 0:30 /kubepods.slice/kubepods-pod1.slice /host/cgroup rw,relatime - cgroup2 cgroup2 rw
            35 24 0:30 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
            """
        let mounts = try CgroupMounts.parse(mountinfo: text)
        #expect(mounts.v2?.mountPoint == "/sys/fs/cgroup")
    }

    @Test("a mount of a sub-tree maps cgroup paths through its root")
    func pathMappingThroughRoot() {
        let mount = CgroupMount(version: .v2, mountPoint: "/sys/fs/cgroup", root: "/kubepods.slice")
        #expect(mount.filesystemPath(forCgroup: "/kubepods.slice/a.slice/b.scope") == "/sys/fs/cgroup/a.slice/b.scope")
        #expect(mount.filesystemPath(forCgroup: "/kubepods.slice") == "/sys/fs/cgroup")
        #expect(mount.filesystemPath(forCgroup: "/kubepods.sliceX/a") == nil)
        #expect(mount.filesystemPath(forCgroup: "/system.slice") == nil)
        #expect(mount.cgroupPath(forFilesystemPath: "/sys/fs/cgroup/a.slice") == "/kubepods.slice/a.slice")
        #expect(mount.cgroupPath(forFilesystemPath: "/sys/fs/cgroupX") == nil)
        let rooted = CgroupMount(version: .v1, mountPoint: "/sys/fs/cgroup/memory")
        #expect(rooted.filesystemPath(forCgroup: "/") == "/sys/fs/cgroup/memory")
        #expect(rooted.cgroupPath(forFilesystemPath: "/sys/fs/cgroup/memory") == "/")
    }

    @Test("a line without the separator is an error naming the file and line")
    func missingSeparator() {
        let text = Self.pureV2 + "\n37 24 0:32 / /sys/fs/bpf rw,relatime bpf bpf rw\n"
        #expect(throws: ValidationError(field: "/recorded/mountinfo:5", "missing the ' - ' separator before the file-system type")) {
            try CgroupMounts.parse(mountinfo: text, file: "/recorded/mountinfo")
        }
    }

    @Test("too few fields before the separator, or nothing after it, are errors")
    func truncatedLines() {
        #expect(throws: ValidationError(field: "m:2", "expected at least 6 fields before ' - ' (id, parent, major:minor, root, mount point, options), found 4")) {
            try CgroupMounts.parse(mountinfo: "\n35 24 0:30 / - cgroup2 cgroup2 rw", file: "m")
        }
        #expect(throws: ValidationError(field: "m:1", "missing the file-system type after ' - '")) {
            try CgroupMounts.parse(mountinfo: "35 24 0:30 / /sys/fs/cgroup rw -", file: "m")
        }
    }

    @Test("the sampler's default root: v2 mount, else the v1 cpuacct hierarchy")
    func defaultRoot() throws {
        try CgroupFixtures.withRecordedMountinfo(Self.hybrid) { path in
            let sampler = try CgroupfsSampler(options: CgroupOptions(mountinfoPath: path))
            #expect(sampler.root == "/sys/fs/cgroup/unified")
            #expect(sampler.mounts.v1Mount(for: "memory")?.mountPoint == "/sys/fs/cgroup/memory")
        }
        try CgroupFixtures.withRecordedMountinfo(Self.v1Only) { path in
            let sampler = try CgroupfsSampler(options: CgroupOptions(mountinfoPath: path))
            #expect(sampler.root == "/sys/fs/cgroup/cpu,cpuacct")
            #expect(sampler.logMetadata["cgroup.root.version"] == "v1")
        }
    }

    @Test("no cgroup mount at all is a clear error")
    func noHierarchy() throws {
        try CgroupFixtures.withRecordedMountinfo("22 28 0:21 / /sys rw - sysfs sysfs rw\n") { path in
            #expect {
                try CgroupfsSampler(options: CgroupOptions(mountinfoPath: path))
            } throws: { error in
                (error as? CgroupError)?.code == .noHierarchy && "\(error)".contains(path)
            }
        }
    }

    @Test("a root above the cgroup mounts (the tmpfs of a v1 host) is refused")
    func rootAboveMounts() throws {
        try CgroupFixtures.withRecordedMountinfo(Self.v1Only) { path in
            #expect {
                try CgroupfsSampler(options: CgroupOptions(cgroupRoot: "/sys/fs/cgroup", mountinfoPath: path))
            } throws: { error in
                (error as? CgroupError)?.code == .notAHierarchy && "\(error)".contains("/sys/fs/cgroup/memory")
            }
        }
    }

    @Test("bad options name the option")
    func badOptions() {
        #expect(throws: ValidationError(field: "cgroupRoot", "must be an absolute path, got 'sys/fs/cgroup'")) {
            try CgroupfsSampler(options: CgroupOptions(cgroupRoot: "sys/fs/cgroup"))
        }
        #expect(throws: ValidationError(field: "maxDepth", "must be at least 1, got 0")) {
            try CgroupfsSampler(options: CgroupOptions(maxDepth: 0))
        }
        #expect(throws: ValidationError.self) {
            try CgroupfsSampler(options: CgroupOptions(match: ""))
        }
    }

    @Test("an unreadable mountinfo names the file")
    func unreadableMountinfo() {
        #expect {
            try CgroupfsSampler(options: CgroupOptions(mountinfoPath: "/nonexistent/mountinfo"))
        } throws: { error in
            (error as? CgroupError)?.code == .unreadable && "\(error)".contains("/nonexistent/mountinfo")
        }
    }
}
