/// Exact usage over some span: integers only, so that sums of rows equal totals.
public struct Usage: Hashable, Sendable, Codable {
    /// CPU time used, core-nanoseconds.
    public var cpuCoreNanos: Int64
    /// CPU requested over the span, core-nanoseconds (request x time sampled).
    public var cpuRequestCoreNanos: Int64
    /// Memory working set integrated over time, byte-seconds.
    public var memoryByteSeconds: Int64
    /// Memory requested over the span, byte-seconds.
    public var memoryRequestByteSeconds: Int64
    /// Egress bytes per destination class, indexed by `NetworkClass.allCases` order.
    public var networkEgressBytes: [Int64]
    /// Milliseconds of sampled time (sum over container-ticks).
    public var sampledMillis: Int64
    /// GPUs requested over the span, GPU-milliseconds (request x time sampled).
    public var gpuRequestMillis: Int64
    /// Persistent volume claims' requested size over the span, byte-seconds.
    public var storageRequestByteSeconds: Int64

    public init(
        cpuCoreNanos: Int64 = 0, cpuRequestCoreNanos: Int64 = 0, memoryByteSeconds: Int64 = 0,
        memoryRequestByteSeconds: Int64 = 0, networkEgressBytes: [Int64] = NetworkClass.zeros, sampledMillis: Int64 = 0,
        gpuRequestMillis: Int64 = 0, storageRequestByteSeconds: Int64 = 0
    ) {
        self.cpuCoreNanos = cpuCoreNanos
        self.cpuRequestCoreNanos = cpuRequestCoreNanos
        self.memoryByteSeconds = memoryByteSeconds
        self.memoryRequestByteSeconds = memoryRequestByteSeconds
        self.networkEgressBytes = networkEgressBytes
        self.sampledMillis = sampledMillis
        self.gpuRequestMillis = gpuRequestMillis
        self.storageRequestByteSeconds = storageRequestByteSeconds
    }

    public static let zero = Usage()

    public mutating func add(_ o: Usage) {
        cpuCoreNanos += o.cpuCoreNanos
        cpuRequestCoreNanos += o.cpuRequestCoreNanos
        memoryByteSeconds += o.memoryByteSeconds
        memoryRequestByteSeconds += o.memoryRequestByteSeconds
        for i in 0..<networkEgressBytes.count { networkEgressBytes[i] += o.networkEgressBytes[i] }
        sampledMillis += o.sampledMillis
        gpuRequestMillis += o.gpuRequestMillis
        storageRequestByteSeconds += o.storageRequestByteSeconds
    }

    public func egress(_ cls: NetworkClass) -> Int64 {
        networkEgressBytes[NetworkClass.allCases.firstIndex(of: cls)!]
    }
}

/// Cost by component, in nano-USD, rounded once per stored row.
public struct Cost: Hashable, Sendable, Codable {
    public var cpu: Money
    public var ram: Money
    /// Egress cost per destination class, indexed by `NetworkClass.allCases` order.
    public var networkByClass: [Money]
    public var gpu: Money
    /// Persistent volumes at their requested size.
    public var storage: Money

    public init(
        cpu: Money = .zero, ram: Money = .zero, networkByClass: [Money] = NetworkClass.zeros.map(Money.init(nanoUSD:)),
        gpu: Money = .zero, storage: Money = .zero
    ) {
        self.cpu = cpu
        self.ram = ram
        self.networkByClass = networkByClass
        self.gpu = gpu
        self.storage = storage
    }

    public static let zero = Cost()
    public var network: Money { networkByClass.reduce(.zero, +) }
    /// The part of the node's price: CPU, RAM and GPU (what idle is measured against).
    public var compute: Money { cpu + ram + gpu }
    public var total: Money { cpu + ram + gpu + network + storage }

    public mutating func add(_ o: Cost) {
        cpu += o.cpu
        ram += o.ram
        gpu += o.gpu
        storage += o.storage
        for i in 0..<networkByClass.count { networkByClass[i] += o.networkByClass[i] }
    }

    /// `self - o`, component by component.
    public func subtracting(_ o: Cost) -> Cost {
        Cost(
            cpu: cpu - o.cpu, ram: ram - o.ram,
            networkByClass: zip(networkByClass, o.networkByClass).map { $0 - $1 },
            gpu: gpu - o.gpu, storage: storage - o.storage
        )
    }
}

/// The pseudo identity under which a node's idle cost is stored: namespace, pod and container
/// `__idle__` on each node, so that cost queries by namespace, pod or container show idle as
/// its own group, and queries by cluster or node include it.
public enum IdleIdentity {
    public static let name = "__idle__"
}

/// How cost results are grouped.
public enum Aggregation: Hashable, Sendable, CustomStringConvertible {
    case cluster, node, namespace, pod, container
    case label(String)

    /// Parses `cluster|node|namespace|pod|container|label:KEY`.
    public init(parsing text: String, field: String = "aggregate") throws(ValidationError) {
        switch text {
        case "cluster": self = .cluster
        case "node": self = .node
        case "namespace": self = .namespace
        case "pod": self = .pod
        case "container": self = .container
        default:
            if text.hasPrefix("label:") {
                let key = String(text.dropFirst("label:".count))
                try KubernetesNames.validateLabelKey(key, field: field)
                self = .label(key)
            } else {
                throw ValidationError(field: field, "\"\(text)\" is not one of cluster, node, namespace, pod, container, label:KEY")
            }
        }
    }

    public var description: String {
        switch self {
        case .cluster: "cluster"
        case .node: "node"
        case .namespace: "namespace"
        case .pod: "pod"
        case .container: "container"
        case .label(let k): "label:\(k)"
        }
    }
}

/// A time range, half-open: [start, end), in milliseconds since the Unix epoch.
public struct TimeRange: Hashable, Sendable, Codable {
    public var startUnixMillis: Int64
    public var endUnixMillis: Int64

    public init(startUnixMillis: Int64, endUnixMillis: Int64) {
        self.startUnixMillis = startUnixMillis
        self.endUnixMillis = endUnixMillis
    }
}

/// Parses durations as people write them: `500ms`, `90s`, `15m`, `24h`, `7d`, `2w`.
public enum DurationText {
    /// Milliseconds in the duration, or a `ValidationError` naming `field`.
    public static func parseMillis(_ text: String, field: String) throws(ValidationError) -> Int64 {
        if text.hasSuffix("ms"), let n = Int64(text.dropLast(2)), n > 0 {
            return n
        }
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else {
            throw ValidationError(field: field, "\"\(text)\" is not a duration: use a positive number and one of s, m, h, d, w (e.g. 24h, 7d)")
        }
        let scale: Int64
        switch unit {
        case "s": scale = 1_000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        case "w": scale = 604_800_000
        default:
            throw ValidationError(field: field, "\"\(text)\" has unknown unit '\(unit)': use one of s, m, h, d, w")
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: scale)
        if overflow || v > 3_660 * 86_400_000 {
            throw ValidationError(field: field, "\"\(text)\" is longer than 10 years")
        }
        return v
    }

    /// `3600000` -> `1h`; the largest unit that divides exactly.
    public static func format(millis: Int64) -> String {
        for (unit, scale) in [("w", Int64(604_800_000)), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        where millis % scale == 0 {
            return "\(millis / scale)\(unit)"
        }
        return "\(millis)ms"
    }
}

/// Which rows a cost or series query reads, by identity; `nil` matches any. The REST
/// parameters `cluster`, `node`, `namespace`, `pod`, `container` map onto it one to one.
public struct RowFilter: Hashable, Sendable {
    public var cluster: String?
    public var node: String?
    public var namespace: String?
    public var pod: String?
    public var container: String?

    public init(cluster: String? = nil, node: String? = nil, namespace: String? = nil, pod: String? = nil, container: String? = nil) {
        self.cluster = cluster
        self.node = node
        self.namespace = namespace
        self.pod = pod
        self.container = container
    }

    /// The filter as REST query items, in a fixed order, leaving out what is nil.
    public var queryItems: [(String, String)] {
        [("cluster", cluster), ("node", node), ("namespace", namespace), ("pod", pod), ("container", container)]
            .compactMap { key, value in value.map { (key, $0) } }
    }
}
