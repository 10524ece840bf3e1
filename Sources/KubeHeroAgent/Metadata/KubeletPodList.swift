#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The kubelet's `GET /pods` answer: a core/v1 PodList, reduced to what names and sizes a
/// container. Unknown fields are ignored and absent optional ones take Kubernetes' defaults,
/// so answers of newer and older kubelets decode alike.
public struct KubeletPodList: Decodable, Hashable, Sendable {
    public var items: [Pod]

    public init(items: [Pod]) { self.items = items }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        items = try c.decodeIfPresent([Pod].self, forKey: .items) ?? []
    }

    private enum CodingKeys: String, CodingKey { case items }

    /// Decodes a `/pods` answer. The error names the JSON path that did not fit
    /// (`items[3].spec.containers[0].name: expected a string`) and where the answer came from.
    public static func decode(_ data: Data, from url: String) throws(KubeletError) -> KubeletPodList {
        do {
            return try JSONDecoder().decode(KubeletPodList.self, from: data)
        } catch let error as DecodingError {
            throw KubeletError(.malformedJSON, url: url, "the answer is not a PodList: \(describe(error, in: data))")
        } catch {
            throw KubeletError(.malformedJSON, url: url, "the answer is not a PodList: \(error)")
        }
    }

    /// `items[3].metadata.name: missing`; when it is not JSON at all, where the JSON stops.
    static func describe(_ error: DecodingError, in data: Data) -> String {
        switch error {
        case let .keyNotFound(key, context):
            return "\(jsonPath(context.codingPath + [key])): missing"
        case let .typeMismatch(type, context):
            return "\(jsonPath(context.codingPath)): expected \(jsonTypeName(type))"
        case let .valueNotFound(type, context):
            return "\(jsonPath(context.codingPath)): expected \(jsonTypeName(type)), got null"
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty {
                if let failure = JSONSyntaxLocator.firstError(in: data) { return "not valid JSON: \(failure.description)" }
                let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
                return "not valid JSON (\(detail))"
            }
            return "\(jsonPath(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// A coding path in JSONPath-like notation: `items[3].spec.containers[0].name`.
    static func jsonPath(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out.isEmpty ? "(top level)" : out
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: "\(type)"
        }
    }

    public struct Pod: Decodable, Hashable, Sendable {
        public var metadata: ObjectMeta
        public var spec: PodSpec
        public var status: PodStatus

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            metadata = try c.decode(ObjectMeta.self, forKey: .metadata)
            spec = try c.decodeIfPresent(PodSpec.self, forKey: .spec) ?? PodSpec()
            status = try c.decodeIfPresent(PodStatus.self, forKey: .status) ?? PodStatus()
        }

        private enum CodingKeys: String, CodingKey { case metadata, spec, status }

        /// The persistent volume claims the pod mounts, in volume order, each once: named ones
        /// and generic ephemeral ones (`<pod>-<volume>`).
        public var claimNames: [String] {
            var seen = Set<String>()
            var out: [String] = []
            for volume in spec.volumes {
                let name = volume.claimName ?? (volume.isEphemeralClaim ? "\(metadata.name)-\(volume.name)" : nil)
                if let name, !name.isEmpty, seen.insert(name).inserted { out.append(name) }
            }
            return out
        }
    }

    public struct ObjectMeta: Decodable, Hashable, Sendable {
        public var name: String
        /// `default` when absent, as the kubelet defaults it for static pods.
        public var namespace: String
        public var uid: String
        public var labels: [String: String]
        public var ownerReferences: [OwnerReference]

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            namespace = try c.decodeIfPresent(String.self, forKey: .namespace) ?? "default"
            uid = try c.decode(String.self, forKey: .uid)
            labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
            ownerReferences = try c.decodeIfPresent([OwnerReference].self, forKey: .ownerReferences) ?? []
        }

        private enum CodingKeys: String, CodingKey { case name, namespace, uid, labels, ownerReferences }
    }

    public struct OwnerReference: Decodable, Hashable, Sendable {
        public var kind: String
        public var name: String
        /// True for the one reference that manages the pod (a ReplicaSet, StatefulSet, Job, ...).
        public var controller: Bool

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            kind = try c.decode(String.self, forKey: .kind)
            name = try c.decode(String.self, forKey: .name)
            controller = try c.decodeIfPresent(Bool.self, forKey: .controller) ?? false
        }

        private enum CodingKeys: String, CodingKey { case kind, name, controller }
    }

    public struct PodSpec: Decodable, Hashable, Sendable {
        public var nodeName: String?
        public var containers: [Container] = []
        public var initContainers: [Container] = []
        /// Debug containers added with `kubectl debug`; they never carry resources.
        public var ephemeralContainers: [Container] = []
        public var volumes: [Volume] = []

        init() {}

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            nodeName = try c.decodeIfPresent(String.self, forKey: .nodeName)
            containers = try c.decodeIfPresent([Container].self, forKey: .containers) ?? []
            initContainers = try c.decodeIfPresent([Container].self, forKey: .initContainers) ?? []
            ephemeralContainers = try c.decodeIfPresent([Container].self, forKey: .ephemeralContainers) ?? []
            volumes = try c.decodeIfPresent([Volume].self, forKey: .volumes) ?? []
        }

        private enum CodingKeys: String, CodingKey { case nodeName, containers, initContainers, ephemeralContainers, volumes }
    }

    /// A pod volume, reduced to the claim it stands for, if any.
    public struct Volume: Decodable, Hashable, Sendable {
        public var name: String
        /// `persistentVolumeClaim.claimName`.
        public var claimName: String?
        /// A generic ephemeral volume (`ephemeral.volumeClaimTemplate`): its claim is named
        /// `<pod>-<volume>`.
        public var isEphemeralClaim: Bool

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            if c.contains(.persistentVolumeClaim) {
                let claim = try c.nestedContainer(keyedBy: CodingKeys.self, forKey: .persistentVolumeClaim)
                claimName = try claim.decode(String.self, forKey: .claimName)
            }
            isEphemeralClaim = c.contains(.ephemeral)
        }

        private enum CodingKeys: String, CodingKey { case name, persistentVolumeClaim, claimName, ephemeral }
    }

    public struct Container: Decodable, Hashable, Sendable {
        public var name: String
        public var resources: ResourceRequirements

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            resources = try c.decodeIfPresent(ResourceRequirements.self, forKey: .resources) ?? ResourceRequirements()
        }

        private enum CodingKeys: String, CodingKey { case name, resources }
    }

    public struct ResourceRequirements: Decodable, Hashable, Sendable {
        /// Keyed by resource name: `cpu`, `memory`, `nvidia.com/gpu`, ...
        public var requests: [String: KubernetesQuantity] = [:]
        public var limits: [String: KubernetesQuantity] = [:]

        init() {}

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            requests = try c.decodeIfPresent([String: KubernetesQuantity].self, forKey: .requests) ?? [:]
            limits = try c.decodeIfPresent([String: KubernetesQuantity].self, forKey: .limits) ?? [:]
        }

        private enum CodingKeys: String, CodingKey { case requests, limits }
    }

    public struct PodStatus: Decodable, Hashable, Sendable {
        /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
        public var phase: String?
        /// `Guaranteed`, `Burstable` or `BestEffort`.
        public var qosClass: String?
        public var containerStatuses: [ContainerStatus] = []
        public var initContainerStatuses: [ContainerStatus] = []
        public var ephemeralContainerStatuses: [ContainerStatus] = []

        init() {}

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            phase = try c.decodeIfPresent(String.self, forKey: .phase)
            qosClass = try c.decodeIfPresent(String.self, forKey: .qosClass)
            containerStatuses = try c.decodeIfPresent([ContainerStatus].self, forKey: .containerStatuses) ?? []
            initContainerStatuses = try c.decodeIfPresent([ContainerStatus].self, forKey: .initContainerStatuses) ?? []
            ephemeralContainerStatuses = try c.decodeIfPresent([ContainerStatus].self, forKey: .ephemeralContainerStatuses) ?? []
        }

        private enum CodingKeys: String, CodingKey {
            case phase, qosClass, containerStatuses, initContainerStatuses, ephemeralContainerStatuses
        }
    }

    public struct ContainerStatus: Decodable, Hashable, Sendable {
        public var name: String
        /// `<runtime>://<id>`: `containerd://`, `cri-o://`, `docker://`. Absent until the
        /// container was created.
        public var containerID: String?
        public var restartCount: Int

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            containerID = try c.decodeIfPresent(String.self, forKey: .containerID)
            restartCount = try c.decodeIfPresent(Int.self, forKey: .restartCount) ?? 0
        }

        /// The runtime's own id, without the `<runtime>://` prefix; nil when there is none yet.
        public var runtimeID: String? {
            guard let containerID, !containerID.isEmpty else { return nil }
            guard let range = containerID.firstRange(of: "://") else { return containerID.lowercased() }
            let id = containerID[range.upperBound...]
            return id.isEmpty ? nil : id.lowercased()
        }

        private enum CodingKeys: String, CodingKey { case name, containerID, restartCount }
    }
}
