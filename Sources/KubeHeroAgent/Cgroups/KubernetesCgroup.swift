/// What a container cgroup's path says about it under Kubernetes.
public struct KubernetesCgroup: Hashable, Sendable {
    /// The pod UID, with dashes (the systemd driver's underscores turned back).
    public var podUID: String
    /// The runtime's container id (hex).
    public var containerID: String
    /// `containerd`, `crio`, `docker`, or nil when the path does not say (cgroupfs driver, bare id).
    public var runtime: String?
    /// `guaranteed`, `burstable` or `besteffort`.
    public var qosClass: String

    public init(podUID: String, containerID: String, runtime: String?, qosClass: String) {
        self.podUID = podUID
        self.containerID = containerID
        self.runtime = runtime
        self.qosClass = qosClass
    }

    /// Recognises a container cgroup that kubelet made, for both cgroup drivers, from its path
    /// relative to the hierarchy root. The kubepods part may sit anywhere in the path (kind nests
    /// it under `kubelet.slice`). Pod-level and QoS-level cgroups, and CRI-O's `crio-conmon-`
    /// monitors, are not containers and give nil. Pause (sandbox) containers cannot be told apart
    /// by path and are recognised like any other container.
    ///
    /// ```swift
    /// KubernetesCgroup.classify(relativePath:
    ///     "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab_34cd.slice/cri-containerd-0f1e....scope")
    /// // podUID "12ab-34cd", runtime "containerd", qosClass "burstable"
    /// KubernetesCgroup.classify(relativePath: "/kubepods/besteffort/pod12ab-34cd/0f1e...")
    /// // podUID "12ab-34cd", runtime nil, qosClass "besteffort"
    /// ```
    public static func classify(relativePath: String) -> KubernetesCgroup? {
        let components = relativePath.split(separator: "/")
        guard components.count >= 3, let leaf = components.last else { return nil }
        if leaf.hasSuffix(".scope") {
            return systemd(components)
        }
        return cgroupfs(components)
    }

    /// `…/<x>kubepods.slice/<x>kubepods[-<qos>].slice/<x>kubepods[-<qos>]-pod<uid_with_underscores>.slice/<runtime>-<id>.scope`
    private static func systemd(_ components: [Substring]) -> KubernetesCgroup? {
        let count = components.count
        guard let (runtime, id) = runtimeAndID(components[count - 1].dropLast(".scope".count), bareIDAllowed: false) else { return nil }
        let podSlice = components[count - 2]
        guard podSlice.hasSuffix(".slice") else { return nil }
        // systemd slice names spell their ancestry: `a-b-c.slice` sits in `a-b.slice` in `a.slice`.
        let parts = podSlice.dropLast(".slice".count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, let podPart = parts.last, podPart.hasPrefix("pod") else { return nil }
        let uid = podPart.dropFirst("pod".count)
        guard isPodUID(uid, allowDashes: false) else { return nil }
        let parentParts = parts.dropLast()
        guard components[count - 3] == parentParts.joined(separator: "-") + ".slice" else { return nil }
        let qos: String
        switch parentParts.last {
        case "kubepods":
            qos = "guaranteed"
        case "burstable", "besteffort":
            guard parentParts.count >= 2, parentParts[parentParts.endIndex - 2] == "kubepods", count >= 4,
                components[count - 4] == parentParts.dropLast().joined(separator: "-") + ".slice"
            else { return nil }
            qos = String(parentParts.last!)
        default:
            return nil
        }
        return KubernetesCgroup(podUID: String(uid.map { $0 == "_" ? "-" : $0 }), containerID: id, runtime: runtime, qosClass: qos)
    }

    /// `…/kubepods[/<qos>]/pod<uid>/<id>` (the leaf may carry a runtime prefix, as CRI-O's does).
    private static func cgroupfs(_ components: [Substring]) -> KubernetesCgroup? {
        let count = components.count
        guard let (runtime, id) = runtimeAndID(components[count - 1], bareIDAllowed: true) else { return nil }
        let podDirectory = components[count - 2]
        guard podDirectory.hasPrefix("pod") else { return nil }
        let uid = podDirectory.dropFirst("pod".count)
        guard isPodUID(uid, allowDashes: true) else { return nil }
        let qos: String
        switch components[count - 3] {
        case "kubepods":
            qos = "guaranteed"
        case "burstable", "besteffort":
            guard count >= 4, components[count - 4] == "kubepods" else { return nil }
            qos = String(components[count - 3])
        default:
            return nil
        }
        return KubernetesCgroup(podUID: String(uid), containerID: id, runtime: runtime, qosClass: qos)
    }

    private static let runtimePrefixes: [(prefix: String, runtime: String)] = [
        ("cri-containerd-", "containerd"), ("crio-", "crio"), ("docker-", "docker"),
    ]

    private static func runtimeAndID(_ name: Substring, bareIDAllowed: Bool) -> (String?, String)? {
        if name.hasPrefix("crio-conmon-") { return nil }
        for (prefix, runtime) in runtimePrefixes where name.hasPrefix(prefix) {
            let id = name.dropFirst(prefix.count)
            return isContainerID(id) ? (runtime, String(id)) : nil
        }
        return bareIDAllowed && isContainerID(name) ? (nil, String(name)) : nil
    }

    /// Runtimes name containers by lowercase hex ids, 64 digits in practice; shorter ones are
    /// accepted, anything else is not a container.
    private static func isContainerID(_ id: Substring) -> Bool {
        (12...128).contains(id.utf8.count) && id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Pod UIDs are RFC 4122 UUIDs, or 32 hex digits for static pods (a hash of the manifest).
    private static func isPodUID(_ uid: Substring, allowDashes: Bool) -> Bool {
        guard (1...64).contains(uid.utf8.count) else { return false }
        return uid.utf8.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x61...0x66, 0x41...0x46: true
            case UInt8(ascii: "_"): !allowDashes
            case UInt8(ascii: "-"): allowDashes
            default: false
            }
        }
    }
}
