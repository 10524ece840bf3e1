import KubeHeroCore

/// The pods on this node at one moment, indexed to name container cgroups.
///
/// Built once per kubelet answer; every lookup after that is a dictionary hit. A field that
/// cannot be used (a bad quantity, an invalid label) is listed in ``problems`` and its container
/// is still mapped, with that value as 0: one bad field never drops the node's metadata.
///
/// ```swift
/// let snapshot = PodMetadataSnapshot(try await kubelet.fetchPods())
/// let identity = snapshot.identity(for: container)
///     ?? PodMetadataSnapshot.cgroupOnly(for: container, nodeName: node)
/// ```
public struct PodMetadataSnapshot: Sendable {
    /// The container name given to a pod's sandbox (pause) cgroup, as Kubernetes calls it.
    public static let sandboxContainerName = "POD"
    /// Extended resources counted as GPUs.
    public static let gpuResourceNames = ["nvidia.com/gpu", "amd.com/gpu"]

    /// Pods in the answer.
    public let podCount: Int
    /// The node the pods are bound to (`spec.nodeName`), when the answer says.
    public let nodeName: String?
    /// Values that could not be used, each naming pod, container and field, e.g.
    /// `pod[shop/web-1].container[app].resources.requests.memory: "12XB" is not a Kubernetes quantity: ...`.
    public let problems: [ValidationError]

    private let byContainerID: [String: ContainerIdentity]
    private let byPodUID: [String: PodEntry]

    private struct PodEntry: Sendable {
        /// The pod itself, for cgroups of the pod that are none of its known containers.
        var sandbox: ContainerIdentity
        /// The container of a pod that has exactly one.
        var onlyContainer: ContainerIdentity?
        /// Whether the runtime id of `onlyContainer` is known.
        var onlyContainerHasID: Bool
    }

    /// `claims` sizes the persistent volume claims pods mount (namespace, claim name); a
    /// pod's claims are charged to its first container, so that they are counted once. Claims
    /// it does not know are left out.
    public init(_ list: KubeletPodList, claims: ((_ namespace: String, _ name: String) -> VolumeClaim?)? = nil) {
        var byContainerID: [String: ContainerIdentity] = [:]
        var byPodUID: [String: PodEntry] = [:]
        var problems = Problems()
        var nodeName: String?

        for pod in list.items {
            let uid = pod.metadata.uid.lowercased()
            if uid.isEmpty || byPodUID[uid] != nil { continue }
            if nodeName == nil { nodeName = pod.spec.nodeName }
            let podField = "pod[\(pod.metadata.namespace)/\(pod.metadata.name)]"
            let owner = pod.metadata.ownerReferences.first(where: \.controller)
            let base = ContainerIdentity(
                namespace: Self.boundedName(pod.metadata.namespace, fallback: "default"),
                pod: Self.boundedName(pod.metadata.name, fallback: uid),
                container: Self.sandboxContainerName,
                podUID: Self.boundedName(uid, fallback: uid),
                labels: Self.usableLabels(pod.metadata.labels, field: podField + ".metadata.labels", problems: &problems),
                ownerKind: Self.boundedName(owner?.kind ?? "", fallback: ""),
                ownerName: Self.boundedName(owner?.name ?? "", fallback: "")
            )

            var byName: [String: ContainerIdentity] = [:]
            let kinds: [(String, [KubeletPodList.Container])] = [
                ("container", pod.spec.containers), ("initContainer", pod.spec.initContainers),
                ("ephemeralContainer", pod.spec.ephemeralContainers),
            ]
            for (kind, containers) in kinds {
                for container in containers where byName[container.name] == nil {
                    var identity = base
                    identity.container = Self.boundedName(container.name, fallback: Self.sandboxContainerName)
                    Self.applyResources(
                        container.resources, to: &identity,
                        field: "\(podField).\(kind)[\(container.name)].resources", problems: &problems
                    )
                    byName[container.name] = identity
                }
            }

            if let claims, let first = pod.spec.containers.first?.name, byName[first] != nil {
                let volumes = pod.claimNames.compactMap { claims(pod.metadata.namespace, $0) }
                byName[first]!.volumes = Array(volumes.prefix(Self.maxVolumesPerContainer))
            }

            let statuses = pod.status.containerStatuses + pod.status.initContainerStatuses + pod.status.ephemeralContainerStatuses
            for status in statuses {
                guard let id = status.runtimeID else { continue }
                byContainerID[id] = byName[status.name] ?? {
                    var identity = base
                    identity.container = Self.boundedName(status.name, fallback: Self.sandboxContainerName)
                    return identity
                }()
            }

            let only = pod.spec.containers.count == 1 ? pod.spec.containers[0] : nil
            byPodUID[uid] = PodEntry(
                sandbox: base,
                onlyContainer: only.flatMap { byName[$0.name] },
                onlyContainerHasID: only.map { only in pod.status.containerStatuses.contains { $0.name == only.name && $0.runtimeID != nil } } ?? false
            )
        }
        self.podCount = list.items.count
        self.nodeName = nodeName
        self.problems = problems.list
        self.byContainerID = byContainerID
        self.byPodUID = byPodUID
    }

    /// Who `container` is, or nil when this snapshot does not know its pod.
    ///
    /// Matched by runtime container id first. Failing that, by pod UID: a pod's only container
    /// when the cgroup carries no id or that container's id is not known yet; otherwise the pod
    /// itself under ``sandboxContainerName`` with no requests — the sandbox (pause) cgroup, or a
    /// container restarted since the snapshot was taken.
    public func identity(for container: CgroupContainer) -> ContainerIdentity? {
        if let id = container.containerID?.lowercased(), let identity = byContainerID[id] {
            return identity
        }
        guard let uid = container.podUID?.lowercased(), let pod = byPodUID[uid] else { return nil }
        if let only = pod.onlyContainer, container.containerID == nil || !pod.onlyContainerHasID {
            return only
        }
        return pod.sandbox
    }

    /// The identity of a container when no pod metadata is at hand: what its cgroup path says.
    ///
    /// - Kubernetes cgroups: namespace `unknown`, pod = the pod UID, container = the short
    ///   (12-character) container id.
    /// - Cgroups matched by `--match` outside Kubernetes (`outsideKubernetes`): a path ending in
    ///   `NAMESPACE/POD/CONTAINER` names all three (so `demo/payments/api-1/app` is payments/api-1/app);
    ///   a shorter one gets namespace `cgroup`, pod = the parent directory, container = the
    ///   directory name.
    ///
    /// Missing parts fall back to the parent directory, the directory and `nodeName`; every name
    /// is 1-253 bytes.
    public static func cgroupOnly(for container: CgroupContainer, nodeName: String, outsideKubernetes: Bool = false) -> ContainerIdentity {
        let parts = container.path.split(separator: "/").map(String.init)
        let directory = parts.last
        let parent = parts.dropLast().last
        let fallback = boundedName(nodeName, fallback: "node")
        let pod: String
        if !outsideKubernetes, let uid = container.podUID, !uid.isEmpty {
            pod = uid
        } else {
            pod = parent ?? fallback
        }
        let name = container.containerID.flatMap { $0.isEmpty ? nil : String($0.prefix(12)) }
            ?? directory ?? "cgroup-\(container.cgroupID)"
        var namespace = outsideKubernetes ? "cgroup" : "unknown"
        if outsideKubernetes, parts.count >= 3 { namespace = boundedName(parts[parts.count - 3], fallback: "cgroup") }
        return ContainerIdentity(
            namespace: namespace,
            pod: boundedName(pod, fallback: fallback),
            container: boundedName(name, fallback: "cgroup-\(container.cgroupID)"),
            podUID: boundedName(container.podUID ?? "", fallback: "")
        )
    }

    // MARK: - Internals

    /// Most claims a container carries in a batch (the batch's own limit).
    static let maxVolumesPerContainer = 64

    /// Longest name, namespace or UID a batch accepts (`BatchLimits.maxStringBytes`).
    static let maxNameBytes = BatchLimits.standard.maxStringBytes

    /// `name` cut to at most 253 UTF-8 bytes on a character boundary; `fallback` when empty.
    static func boundedName(_ name: String, fallback: String) -> String {
        let value = name.isEmpty ? fallback : name
        if value.utf8.count <= maxNameBytes { return value }
        var out = ""
        var bytes = 0
        for character in value {
            let size = character.utf8.count
            if bytes + size > maxNameBytes { break }
            out.append(character)
            bytes += size
        }
        return out
    }

    /// Kubernetes defaults a request to the limit when only the limit is given (for every
    /// resource), so the request is the request, or else the limit.
    private static func applyResources(
        _ resources: KubeletPodList.ResourceRequirements, to identity: inout ContainerIdentity,
        field: String, problems: inout Problems
    ) {
        func request(_ name: String) -> (KubernetesQuantity, String)? {
            if let q = resources.requests[name] { return (q, "requests.\(name)") }
            if let q = resources.limits[name] { return (q, "limits.\(name)") }
            return nil
        }
        func limit(_ name: String) -> (KubernetesQuantity, String)? {
            resources.limits[name].map { ($0, "limits.\(name)") }
        }
        func convert<T: FixedWidthInteger>(_ entry: (KubernetesQuantity, String)?, _ parse: (KubernetesQuantity) throws(ValidationError) -> T) -> T {
            guard let (quantity, path) = entry else { return 0 }
            do {
                return try parse(quantity)
            } catch {
                problems.add(error.nested(in: "\(field).\(path)"))
                return 0
            }
        }
        identity.cpuRequestMillicores = convert(request("cpu")) { q throws(ValidationError) in try q.millicores() }
        identity.memoryRequestBytes = convert(request("memory")) { q throws(ValidationError) in try q.bytes() }
        identity.cpuLimitMillicores = convert(limit("cpu")) { q throws(ValidationError) in try q.millicores() }
        identity.memoryLimitBytes = convert(limit("memory")) { q throws(ValidationError) in try q.bytes() }
        var gpus: UInt32 = 0
        for name in gpuResourceNames {
            let (sum, overflow) = gpus.addingReportingOverflow(convert(request(name)) { q throws(ValidationError) in try q.count() })
            gpus = overflow ? .max : sum
        }
        identity.gpuRequest = gpus
    }

    /// The labels a batch accepts: valid keys and values (the API server's rules), at most
    /// `BatchLimits.maxLabelsPerContainer` of them, first by key.
    private static func usableLabels(_ labels: [String: String], field: String, problems: inout Problems) -> [String: String] {
        var out: [String: String] = [:]
        let limit = BatchLimits.standard.maxLabelsPerContainer
        for key in labels.keys.sorted() {
            let value = labels[key]!
            do throws(ValidationError) {
                try KubernetesNames.validateLabelKey(key, field: "\(field)[\(key)]")
                try KubernetesNames.validateLabelValue(value, field: "\(field)[\(key)]")
            } catch {
                problems.add(error)
                continue
            }
            if out.count == limit {
                problems.add(ValidationError(field: field, "has \(labels.count) labels; only the first \(limit) by key are kept"))
                break
            }
            out[key] = value
        }
        return out
    }

    /// Problems in order, each once (a limit read as a defaulted request fails twice).
    private struct Problems {
        var list: [ValidationError] = []
        private var seen: Set<ValidationError> = []

        mutating func add(_ problem: ValidationError) {
            if seen.insert(problem).inserted { list.append(problem) }
        }
    }
}
