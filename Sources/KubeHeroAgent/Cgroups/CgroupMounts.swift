import KubeHeroCore

/// One cgroup file system mounted on this host, as `/proc/self/mountinfo` lists it.
public struct CgroupMount: Hashable, Sendable {
    public enum Version: String, Hashable, Sendable {
        /// The unified hierarchy (fstype `cgroup2`).
        case v2
        /// A legacy per-controller hierarchy (fstype `cgroup`).
        case v1
    }

    public var version: Version
    /// Where the hierarchy is mounted in this mount namespace, e.g. `/sys/fs/cgroup/unified`.
    public var mountPoint: String
    /// The cgroup the mount shows at its mount point, relative to the hierarchy root: `/` unless
    /// the mount is a bind mount of a sub-tree or sits in a cgroup namespace.
    public var root: String
    /// v1: the controllers bound to this hierarchy (`["cpu", "cpuacct"]`). v2: empty — the enabled
    /// controllers are in the hierarchy's `cgroup.controllers`, not in the mount options.
    public var controllers: [String]
    /// v1 named hierarchies without controllers (`name=systemd`).
    public var name: String?

    public init(version: Version, mountPoint: String, root: String = "/", controllers: [String] = [], name: String? = nil) {
        self.version = version
        self.mountPoint = mountPoint
        self.root = root
        self.controllers = controllers
        self.name = name
    }

    /// Where the cgroup at `cgroupPath` (relative to the hierarchy root, as in `/proc/<pid>/cgroup`)
    /// is in the file system, or nil when this mount does not show it.
    ///
    /// ```swift
    /// CgroupMount(version: .v1, mountPoint: "/sys/fs/cgroup/memory").filesystemPath(forCgroup: "/kubepods/pod1")
    /// // "/sys/fs/cgroup/memory/kubepods/pod1"
    /// ```
    public func filesystemPath(forCgroup cgroupPath: String) -> String? {
        guard let rest = CgroupPathText.remainder(of: cgroupPath, under: root) else { return nil }
        return CgroupPathText.join(mountPoint, rest)
    }

    /// The cgroup path (relative to the hierarchy root) of a directory inside this mount, or nil
    /// when `filesystemPath` is outside it.
    public func cgroupPath(forFilesystemPath filesystemPath: String) -> String? {
        guard let rest = CgroupPathText.remainder(of: filesystemPath, under: mountPoint) else { return nil }
        return CgroupPathText.join(root, rest)
    }
}

/// The cgroup hierarchies of a host: the v2 mount if any and, on hybrid or v1-only hosts, the v1
/// controller mounts.
///
/// ```swift
/// let mounts = try CgroupMounts.load()
/// mounts.v2?.mountPoint                            // "/sys/fs/cgroup" (pure v2) or "/sys/fs/cgroup/unified" (hybrid)
/// mounts.v1Mount(for: "cpuacct")?.mountPoint       // "/sys/fs/cgroup/cpu,cpuacct" on v1 and hybrid hosts
/// ```
public struct CgroupMounts: Hashable, Sendable {
    public var v2: CgroupMount?
    public var v1: [CgroupMount]

    public init(v2: CgroupMount? = nil, v1: [CgroupMount] = []) {
        self.v2 = v2
        self.v1 = v1
    }

    /// The v1 hierarchy the controller is bound to, if it is mounted.
    public func v1Mount(for controller: String) -> CgroupMount? {
        v1.first { $0.controllers.contains(controller) }
    }

    /// Reads and parses a mountinfo file (`/proc/self/mountinfo` unless told otherwise).
    public static func load(from path: String = "/proc/self/mountinfo") throws -> CgroupMounts {
        try parse(mountinfo: CgroupFileText.read(path), file: path)
    }

    /// Parses mountinfo text (proc(5)): `id parent major:minor root mountpoint options [optional
    /// fields...] - fstype source superoptions`, paths octal-escaped (`\040` for a space).
    ///
    /// Malformed lines throw a `ValidationError` whose field is `file:line`. Of several mounts of
    /// the same hierarchy (bind mounts), the one showing the hierarchy root wins, else the first.
    public static func parse(mountinfo text: String, file: String = "/proc/self/mountinfo") throws -> CgroupMounts {
        var v2: CgroupMount?
        var v1: [CgroupMount] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let mount = try parseLine(line, at: "\(file):\(index + 1)") else { continue }
            switch mount.version {
            case .v2:
                if v2 == nil || (v2?.root != "/" && mount.root == "/") { v2 = mount }
            case .v1:
                if let same = v1.firstIndex(where: { $0.controllers == mount.controllers && $0.name == mount.name }) {
                    if v1[same].root != "/" && mount.root == "/" { v1[same] = mount }
                } else {
                    v1.append(mount)
                }
            }
        }
        return CgroupMounts(v2: v2, v1: v1)
    }

    /// The cgroup mount a line describes, nil for blank lines and other file systems.
    static func parseLine(_ line: Substring, at location: String) throws -> CgroupMount? {
        if line.allSatisfy({ $0 == " " || $0 == "\t" }) { return nil }
        let fields = line.split(separator: " ")
        guard let separator = fields.firstIndex(of: "-") else {
            throw ValidationError(field: location, "missing the ' - ' separator before the file-system type")
        }
        guard separator >= 6 else {
            throw ValidationError(field: location, "expected at least 6 fields before ' - ' (id, parent, major:minor, root, mount point, options), found \(separator)")
        }
        guard separator + 1 < fields.count else {
            throw ValidationError(field: location, "missing the file-system type after ' - '")
        }
        let fsType = fields[separator + 1]
        guard fsType == "cgroup" || fsType == "cgroup2" else { return nil }
        let root = unescape(fields[3])
        let mountPoint = unescape(fields[4])
        guard root.hasPrefix("/"), mountPoint.hasPrefix("/") else {
            throw ValidationError(field: location, "root and mount point must be absolute paths, got '\(root)' and '\(mountPoint)'")
        }
        if fsType == "cgroup2" {
            return CgroupMount(version: .v2, mountPoint: mountPoint, root: root)
        }
        let superOptions = separator + 3 < fields.count ? fields[separator + 3].split(separator: ",") : []
        var controllers: [String] = []
        var name: String?
        for option in superOptions {
            if option.hasPrefix("name=") {
                name = String(option.dropFirst("name=".count))
            } else if v1Controllers.contains(String(option)) {
                controllers.append(String(option))
            }
        }
        return CgroupMount(version: .v1, mountPoint: mountPoint, root: root, controllers: controllers.sorted(), name: name)
    }

    /// The kernel's v1 controllers. Super options also carry flags (`rw`, `clone_children`,
    /// `seclabel`, `xattr`, ...), so anything not listed here is not a controller.
    private static let v1Controllers: Set<String> = [
        "blkio", "cpu", "cpuacct", "cpuset", "debug", "devices", "freezer", "hugetlb", "memory", "misc", "net_cls", "net_prio",
        "perf_event", "pids", "rdma",
    ]

    /// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        let bytes = Array(field.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count {
                let digits = bytes[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) {
                    let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
                    if value <= 255 {
                        out.append(UInt8(value))
                        i += 4
                        continue
                    }
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Path arithmetic on `/`-separated absolute paths, component-wise (so `/a/bc` is not under `/a/b`).
enum CgroupPathText {
    /// `/a` + `b/c` -> `/a/b/c`; `/` + `` -> `/`.
    static func join(_ base: String, _ rest: String) -> String {
        let tail = rest.drop { $0 == "/" }
        if tail.isEmpty { return base }
        return base.hasSuffix("/") ? base + tail : base + "/" + tail
    }

    /// What follows `prefix` in `path` (without a leading `/`), or nil when `path` is not `prefix`
    /// or below it.
    static func remainder(of path: String, under prefix: String) -> String? {
        let base = prefix.hasSuffix("/") && prefix.count > 1 ? String(prefix.dropLast()) : prefix
        if base == "/" { return String(path.drop { $0 == "/" }) }
        guard path.hasPrefix(base) else { return nil }
        let rest = path.dropFirst(base.count)
        if rest.isEmpty { return "" }
        guard rest.hasPrefix("/") else { return nil }
        return String(rest.drop { $0 == "/" })
    }

    /// Collapses repeated and trailing slashes: `/a//b/` -> `/a/b`.
    static func normalize(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return "/" + parts.joined(separator: "/")
    }
}
