import KubeHeroCore
import Logging
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The two kinds of object the agent reads from the Kubernetes API server, besides the
/// kubelet's pods: its own Node (labels for instance type, zone and capacity type; the
/// `kubehero.io/node-hourly-usd` price override, which only an annotation can carry; capacity)
/// and the PersistentVolumeClaims its pods mount (size and storage class, for storage cost).
///
/// It is the kubelet's HTTPS client pointed at the API server: the same token, CA and error
/// handling. The service account needs `get` on `nodes` and `persistentvolumeclaims` (the Helm
/// chart's agent ClusterRole).
///
/// ```swift
/// if let configuration = KubernetesAPI.inClusterConfiguration(environment: ProcessInfo.processInfo.environment) {
///     let api = try KubernetesAPI(configuration: configuration, logger: logger)
///     let node = try await api.node(named: "ip-10-0-1-23.ec2.internal")
/// }
/// ```
public struct KubernetesAPI: AsyncShutdown {
    public let client: KubeletClient

    public init(configuration: KubeletClient.Configuration, logger: Logger) throws(KubeletError) {
        var c = configuration
        c.peer = "API server"
        client = try KubeletClient(configuration: c, logger: logger)
    }

    /// The API server as a pod sees it: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`
    /// with the pod's service-account token and CA; nil outside a cluster.
    public static func inClusterConfiguration(environment: [String: String]) -> KubeletClient.Configuration? {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else { return nil }
        let port = environment["KUBERNETES_SERVICE_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "443"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var c = KubeletClient.Configuration(baseURL: "https://\(hostPart):\(port)")
        c.peer = "API server"
        return c
    }

    /// `GET /api/v1/nodes/NAME`.
    public func node(named name: String) async throws(KubeletError) -> KubernetesNode {
        let path = "/api/v1/nodes/" + (try Self.pathSegment(name, what: "node name"))
        return try decode(KubernetesNode.self, from: try await client.get(path), path: path)
    }

    /// Every Node of the cluster, `GET /api/v1/nodes?limit=N` page by page (`continue`), at
    /// most `maxPages` pages: the zone and addresses of each node, for the network class tables.
    /// Pages are small so that the agent never holds a large cluster's whole list at once.
    /// Items that are not readable Nodes are skipped and named in `rejected`.
    public func nodes(pageSize: Int = 100, maxPages: Int = 1000) async throws(KubeletError) -> (nodes: [KubernetesNode], rejected: [String]) {
        var nodes: [KubernetesNode] = []
        var rejected: [String] = []
        var next = ""
        for page in 0..<maxPages {
            var path = "/api/v1/nodes?limit=\(pageSize)"
            if !next.isEmpty { path += "&continue=" + PercentEncoding.encode(next) }
            let list = try decode(KubernetesNodePage.self, from: try await client.get(path), path: path)
            nodes += list.nodes
            rejected += list.rejected.map { "page \(page + 1) \($0)" }
            if list.next.isEmpty { return (nodes, rejected) }
            next = list.next
        }
        throw KubeletError(.tooLarge, url: client.base + "/api/v1/nodes", "more than \(maxPages) pages of \(pageSize) nodes", peer: client.configuration.peer)
    }

    /// `GET /api/v1/namespaces/NAMESPACE/persistentvolumeclaims/NAME`.
    public func claim(namespace: String, name: String) async throws(KubeletError) -> KubernetesClaim {
        let path = "/api/v1/namespaces/\(try Self.pathSegment(namespace, what: "namespace"))/persistentvolumeclaims/\(try Self.pathSegment(name, what: "claim name"))"
        return try decode(KubernetesClaim.self, from: try await client.get(path), path: path)
    }

    public func shutdown() async throws { try await client.shutdown() }

    private func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer, path: String) throws(KubeletError) -> T {
        let data = Data(body.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw KubeletError(.malformedJSON, url: client.base + path, "the answer is not a \(T.self): \(KubeletPodList.describe(error, in: data))", peer: client.configuration.peer)
        } catch {
            throw KubeletError(.malformedJSON, url: client.base + path, "the answer is not a \(T.self): \(error)", peer: client.configuration.peer)
        }
    }

    /// Names of nodes, namespaces and claims are DNS subdomains: nothing in them needs escaping,
    /// and anything else is refused rather than sent.
    static func pathSegment(_ name: String, what: String) throws(KubeletError) -> String {
        let ok = !name.isEmpty && name.utf8.count <= 253
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x2e }
        guard ok else {
            throw KubeletError(.configuration, url: "(not asked)", "\(what) \"\(name)\" is not a Kubernetes name (lower-case letters, digits, '-' and '.')", peer: "API server")
        }
        return name
    }
}

/// A core/v1 Node, reduced to what prices it.
public struct KubernetesNode: Decodable, Hashable, Sendable {
    public var name: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// `status.capacity`: `cpu`, `memory`, `nvidia.com/gpu`, ...
    public var capacity: [String: KubernetesQuantity]
    /// `spec.podCIDRs` (else `spec.podCIDR`) as written: the pod networks the node's pods get
    /// addresses from. Empty where the CNI gives pods addresses from the VPC (e.g. EKS).
    public var podCIDRs: [String]
    /// `status.addresses` of type `InternalIP` and `ExternalIP`, as written.
    public var addresses: [String]

    public init(
        name: String, labels: [String: String] = [:], annotations: [String: String] = [:], capacity: [String: KubernetesQuantity] = [:],
        podCIDRs: [String] = [], addresses: [String] = []
    ) {
        self.name = name
        self.labels = labels
        self.annotations = annotations
        self.capacity = capacity
        self.podCIDRs = podCIDRs
        self.addresses = addresses
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let meta = try c.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
        name = try meta.decode(String.self, forKey: .name)
        labels = try meta.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        annotations = try meta.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
        podCIDRs = []
        if c.contains(.spec) {
            let spec = try c.nestedContainer(keyedBy: Keys.self, forKey: .spec)
            podCIDRs = try spec.decodeIfPresent([String].self, forKey: .podCIDRs) ?? []
            if podCIDRs.isEmpty, let one = try spec.decodeIfPresent(String.self, forKey: .podCIDR), !one.isEmpty { podCIDRs = [one] }
        }
        capacity = [:]
        addresses = []
        if c.contains(.status) {
            let status = try c.nestedContainer(keyedBy: Keys.self, forKey: .status)
            capacity = try status.decodeIfPresent([String: KubernetesQuantity].self, forKey: .capacity) ?? [:]
            let all = try status.decodeIfPresent([Address].self, forKey: .addresses) ?? []
            addresses = all.filter { $0.type == "InternalIP" || $0.type == "ExternalIP" }.map(\.address)
        }
    }

    private struct Address: Decodable {
        var type: String
        var address: String
    }

    private enum Keys: String, CodingKey { case metadata, name, labels, annotations, spec, podCIDR, podCIDRs, status, capacity, addresses }
}

/// A page of a core/v1 NodeList: the nodes that decoded, and what did not.
struct KubernetesNodePage: Decodable {
    var nodes: [KubernetesNode] = []
    /// `items[3].metadata.name: missing` for each item that is not a Node this agent can read.
    var rejected: [String] = []
    /// `metadata.continue`: where the next page starts; empty on the last.
    var next: String

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        next = try c.decodeIfPresent(Meta.self, forKey: .metadata)?.continue ?? ""
        var items = try c.nestedUnkeyedContainer(forKey: .items)
        while !items.isAtEnd {
            let index = items.currentIndex
            do {
                nodes.append(try items.decode(KubernetesNode.self))
            } catch {
                // Skip the item, keep the others: one odd Node must not hide the cluster.
                _ = try? items.decode(Skip.self)
                if let error = error as? DecodingError {
                    rejected.append(KubeletPodList.describe(error, in: Data()))
                } else {
                    rejected.append("items[\(index)]: \(error)")
                }
                if items.currentIndex == index { break }
            }
        }
    }

    private struct Meta: Decodable { var `continue`: String? }
    /// Decodes any value without reading it: moves past an item that failed.
    private struct Skip: Decodable { init(from decoder: any Decoder) {} }
    private enum Keys: String, CodingKey { case metadata, items }
}

/// A core/v1 PersistentVolumeClaim, reduced to what prices it.
public struct KubernetesClaim: Decodable, Hashable, Sendable {
    public var name: String
    public var namespace: String
    public var storageClass: String
    /// `spec.resources.requests.storage`: what the claim asked for, and what it is priced at.
    public var request: KubernetesQuantity?
    /// `status.capacity.storage`: what it got (can be larger than asked).
    public var capacity: KubernetesQuantity?

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let meta = try c.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
        name = try meta.decode(String.self, forKey: .name)
        namespace = try meta.decodeIfPresent(String.self, forKey: .namespace) ?? "default"
        storageClass = ""
        if c.contains(.spec) {
            let spec = try c.nestedContainer(keyedBy: Keys.self, forKey: .spec)
            storageClass = try spec.decodeIfPresent(String.self, forKey: .storageClassName) ?? ""
            if spec.contains(.resources) {
                let resources = try spec.nestedContainer(keyedBy: Keys.self, forKey: .resources)
                request = try resources.decodeIfPresent([String: KubernetesQuantity].self, forKey: .requests)?["storage"]
            }
        }
        if c.contains(.status) {
            let status = try c.nestedContainer(keyedBy: Keys.self, forKey: .status)
            capacity = try status.decodeIfPresent([String: KubernetesQuantity].self, forKey: .capacity)?["storage"]
        }
    }

    /// The claim as a batch carries it: its requested size (else its capacity), with the
    /// storage class. Throws when neither size is a quantity.
    public func volumeClaim() throws(ValidationError) -> VolumeClaim {
        let field = "persistentvolumeclaim[\(namespace)/\(name)]"
        guard let size = request ?? capacity else {
            throw ValidationError(field: field + ".spec.resources.requests.storage", "missing")
        }
        let bytes: UInt64
        do { bytes = try size.bytes() } catch { throw error.nested(in: field + (request != nil ? ".spec.resources.requests.storage" : ".status.capacity.storage")) }
        return VolumeClaim(claimName: name, storageClass: storageClass, requestBytes: bytes)
    }

    private enum Keys: String, CodingKey { case metadata, name, namespace, spec, storageClassName, resources, requests, status, capacity }
}

extension NodeInfo {
    /// The node as its Node object describes it: labels (with `flagLabels` on top, so a flag
    /// always wins), capacity from `status.capacity` (else the given fallback), and the
    /// `kubehero.io/node-hourly-usd` annotation as the price override.
    public static func fromNode(
        _ node: KubernetesNode, flagLabels: [String: String], cpuMillicores: UInt32, memoryBytes: UInt64
    ) -> NodeInfo {
        let labels = node.labels.merging(flagLabels) { _, flag in flag }
        let cpu = (try? node.capacity["cpu"]?.millicores()) ?? cpuMillicores
        let memory = (try? node.capacity["memory"]?.bytes()) ?? memoryBytes
        let gpus = PodMetadataSnapshot.gpuResourceNames.reduce(UInt32(0)) { sum, name in
            let (total, overflow) = sum.addingReportingOverflow((try? node.capacity[name]?.count()) ?? 0)
            return overflow ? .max : total
        }
        var info = fromLabels(labels, name: node.name, cpuMillicores: cpu, memoryBytes: memory, gpuCount: gpus)
        info.hourlyPriceOverride = String((node.annotations[NodeInfo.hourlyPriceAnnotation] ?? "").prefix(64))
        return info
    }
}
