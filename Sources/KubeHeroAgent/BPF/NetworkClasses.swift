import KubeHeroCore
import KubeHeroPKI

/// An IPv4 or IPv6 network: its address bytes in network order (4 or 16, host bits cleared)
/// and prefix length. A bare address is a /32 (or /128).
///
/// ```swift
/// let pods = try CIDR(parsing: "10.244.0.0/16", field: "--pod-cidr")
/// pods.contains(IPAddress.bytes("10.244.3.7")!)   // true
/// ```
public struct CIDR: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let address: [UInt8]
    public let prefixLength: Int

    public init(parsing text: String, field: String) throws(ValidationError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = IPAddress.bytes(String(parts[0])) else {
            throw ValidationError(field: field, "\"\(text)\" is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)")
        }
        let bits = bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...bits).contains(n), parts[1].allSatisfy(\.isNumber) else {
                throw ValidationError(field: field, "\"\(text)\": the prefix length must be 0-\(bits)")
            }
            length = n
        }
        self.init(address: bytes, prefixLength: length)
    }

    /// `address` with the bits past `prefixLength` cleared.
    public init(address: [UInt8], prefixLength: Int) {
        precondition(address.count == 4 || address.count == 16, "an IP address has 4 or 16 bytes")
        precondition((0...address.count * 8).contains(prefixLength), "prefix length out of range")
        self.address = address.enumerated().map { i, byte in
            let keep = max(0, min(8, prefixLength - i * 8))
            return keep == 8 ? byte : byte & ~(UInt8(0xff) >> keep)
        }
        self.prefixLength = prefixLength
    }

    public var isIPv4: Bool { address.count == 4 }

    /// Whether `address` (4 or 16 bytes) is inside this network.
    public func contains(_ other: [UInt8]) -> Bool {
        other.count == address.count && CIDR(address: other, prefixLength: prefixLength).address == address
    }

    public var description: String {
        let text: String
        if isIPv4 {
            text = address.map(String.init).joined(separator: ".")
        } else {
            text = stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
        return "\(text)/\(prefixLength)"
    }

    public static func < (a: CIDR, b: CIDR) -> Bool {
        if a.address.count != b.address.count { return a.address.count < b.address.count }
        if a.address != b.address { return a.address.lexicographicallyPrecedes(b.address) }
        return a.prefixLength < b.prefixLength
    }
}

/// One entry of the destination-class table the BPF programs look addresses up in.
public struct NetworkClassRule: Hashable, Sendable {
    public var cidr: CIDR
    public var networkClass: NetworkClass

    public init(_ cidr: CIDR, _ networkClass: NetworkClass) {
        self.cidr = cidr
        self.networkClass = networkClass
    }
}

/// Where this node's network bytes go, by destination address: the configuration that becomes
/// the BPF programs' longest-prefix-match tables. An address no rule matches is `internet`.
///
/// The classes, from the most specific source:
/// - `class CIDR CLASS` lines: exactly that;
/// - this node (its own addresses, found at start, loopback, and `node-pod-cidr`): same-node;
/// - `zone-subnet ZONE CIDR`: same-zone when ZONE is this node's zone, else cross-zone;
/// - the cluster's nodes (`NodeNetworkSource`): by their region and zone labels against this
///   node's: cross-region, cross-zone or same-zone;
/// - `region-subnet REGION CIDR`: cross-region when REGION is not this node's region (other
///   regions' VPCs, peered or reached over a transit gateway); this node's own region's
///   subnets are ignored (give its zones' subnets instead);
/// - the cluster's `pod-cidr` and `service-cidr`, and private ranges (RFC 1918, RFC 6598,
///   fc00::/7): `in-cluster-class` (default same-zone: in-cluster traffic whose zone the agent
///   cannot tell; give zone subnets to price cross-zone traffic).
///
/// When two rules name the same network the more specific source wins; otherwise the longest
/// prefix wins, as in the kernel.
///
/// The text form (a file with `--net-config`, `KUBEHERO_NET_CONFIG` with `;` between lines, and
/// each networking flag) has one directive per line, `#` comments:
///
/// ```
/// pod-cidr 10.244.0.0/16
/// service-cidr 10.96.0.0/12
/// node-pod-cidr 10.244.3.0/24
/// zone-subnet us-east-1a 10.0.0.0/20
/// zone-subnet us-east-1b 10.0.16.0/20
/// region-subnet us-west-2 10.1.0.0/16
/// class 203.0.113.0/24 cross-zone
/// in-cluster-class cross-zone
/// ```
public struct NetworkClassConfiguration: Sendable, Hashable {
    public var nodeAddresses: [CIDR] = []
    public var nodePodCIDRs: [CIDR] = []
    public var podCIDRs: [CIDR] = []
    public var serviceCIDRs: [CIDR] = []
    public var zoneSubnets: [String: [CIDR]] = [:]
    public var regionSubnets: [String: [CIDR]] = [:]
    public var privateRanges: [CIDR] = Self.standardPrivateRanges
    public var inClusterClass: NetworkClass = .sameZone
    public var explicit: [NetworkClassRule] = []
    /// The cluster's nodes as the API server lists them (`NodeNetworkSource`): each node's pod
    /// CIDRs and addresses are cross-region, same-zone or cross-zone by its region and zone
    /// labels, this node's same-node.
    public var clusterNodes: [ClusterNodeNetwork] = []

    public init() {}

    /// RFC 1918, RFC 6598 (carrier-grade NAT, used by some VPCs) and IPv6 unique local addresses.
    public static let standardPrivateRanges: [CIDR] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"]
        .map { try! CIDR(parsing: $0, field: "builtin") }
    /// Loopback: always this node.
    public static let loopback: [CIDR] = ["127.0.0.0/8", "::1/128"].map { try! CIDR(parsing: $0, field: "builtin") }

    /// The table for node `nodeName` in `zone` of `region`, one rule per network, sorted. With
    /// `zone` empty (unknown) every zone subnet is cross-zone, and other nodes of this region
    /// are `inClusterClass`; with `region` empty every region subnet is cross-region, and a
    /// node is cross-region only when it and this node name different regions.
    public func rules(zone: String, region: String = "", nodeName: String = "") -> [NetworkClassRule] {
        var table: [CIDR: NetworkClass] = [:]
        // Lowest precedence first; a later source overwrites the same network.
        for cidr in privateRanges + podCIDRs + serviceCIDRs { table[cidr] = inClusterClass }
        for (name, subnets) in regionSubnets where region.isEmpty || name != region {
            for cidr in subnets { table[cidr] = .crossRegion }
        }
        for node in clusterNodes {
            let networkClass: NetworkClass =
                !nodeName.isEmpty && node.name == nodeName ? .sameNode
                : !region.isEmpty && !node.region.isEmpty && node.region != region ? .crossRegion
                : zone.isEmpty || node.zone.isEmpty ? inClusterClass
                : node.zone == zone ? .sameZone : .crossZone
            for cidr in node.networks { table[cidr] = networkClass }
        }
        for (name, subnets) in zoneSubnets {
            for cidr in subnets { table[cidr] = !zone.isEmpty && name == zone ? .sameZone : .crossZone }
        }
        for cidr in Self.loopback + nodeAddresses + nodePodCIDRs { table[cidr] = .sameNode }
        for rule in explicit { table[rule.cidr] = rule.networkClass }
        return table.map { NetworkClassRule($0.key, $0.value) }.sorted { $0.cidr < $1.cidr }
    }

    /// The class of `address` under `rules` by longest prefix: what the BPF programs compute.
    public static func classify(_ address: [UInt8], rules: [NetworkClassRule]) -> NetworkClass {
        rules.filter { $0.cidr.contains(address) }.max { $0.cidr.prefixLength < $1.cidr.prefixLength }?.networkClass ?? .internet
    }

    /// Applies one directive line. `source` names where it came from for errors (`--pod-cidr`,
    /// `net.conf:3`).
    public mutating func apply(_ line: Substring, source: String) throws(ValidationError) {
        let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let directive = words.first else { return }
        func arguments(_ n: Int, _ usage: String) throws(ValidationError) -> [String] {
            guard words.count == n + 1 else { throw ValidationError(field: source, "usage: \(directive) \(usage)") }
            return Array(words.dropFirst())
        }
        func networkClass(_ text: String) throws(ValidationError) -> NetworkClass {
            guard let c = NetworkClass(rawValue: text) else {
                throw ValidationError(field: source, "unknown class \"\(text)\"; expected one of \(NetworkClass.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return c
        }
        switch directive {
        case "pod-cidr": podCIDRs.append(try CIDR(parsing: try arguments(1, "CIDR")[0], field: source))
        case "service-cidr": serviceCIDRs.append(try CIDR(parsing: try arguments(1, "CIDR")[0], field: source))
        case "node-pod-cidr": nodePodCIDRs.append(try CIDR(parsing: try arguments(1, "CIDR")[0], field: source))
        case "node-ip": nodeAddresses.append(try CIDR(parsing: try arguments(1, "ADDRESS")[0], field: source))
        case "private": privateRanges.append(try CIDR(parsing: try arguments(1, "CIDR")[0], field: source))
        case "zone-subnet":
            let a = try arguments(2, "ZONE CIDR")
            zoneSubnets[a[0], default: []].append(try CIDR(parsing: a[1], field: source))
        case "region-subnet":
            let a = try arguments(2, "REGION CIDR")
            regionSubnets[a[0], default: []].append(try CIDR(parsing: a[1], field: source))
        case "class":
            let a = try arguments(2, "CIDR CLASS")
            explicit.append(NetworkClassRule(try CIDR(parsing: a[0], field: source), try networkClass(a[1])))
        case "in-cluster-class": inClusterClass = try networkClass(try arguments(1, "CLASS")[0])
        default:
            throw ValidationError(
                field: source,
                "unknown directive \"\(directive)\"; expected pod-cidr, service-cidr, node-pod-cidr, node-ip, private, zone-subnet, region-subnet, class or in-cluster-class")
        }
    }

    /// Applies every line of `text` (a file's contents, or the environment variable's value with
    /// `separator` `;`), naming `origin:line` in errors.
    public mutating func apply(text: String, origin: String, separator: Character = "\n") throws(ValidationError) {
        for (i, line) in text.split(separator: separator, omittingEmptySubsequences: false).enumerated() {
            try apply(line, source: "\(origin):\(i + 1)")
        }
    }
}

/// One node of the cluster as the class tables see it: where it is, and the networks that
/// reach it (its pod CIDRs and its internal and external addresses).
public struct ClusterNodeNetwork: Hashable, Sendable {
    public var name: String
    public var zone: String
    public var region: String
    public var networks: [CIDR]

    public init(name: String, zone: String, region: String, networks: [CIDR]) {
        self.name = name
        self.zone = zone
        self.region = region
        self.networks = networks
    }

    /// The node as its Node object describes it. Pod CIDRs or addresses that do not parse are
    /// left out and named in `rejected` (`node[NAME].spec.podCIDRs[0]: ...`).
    public static func from(_ node: KubernetesNode) -> (node: ClusterNodeNetwork, rejected: [String]) {
        let place = NodeInfo.fromLabels(node.labels, name: node.name, cpuMillicores: 0, memoryBytes: 0)
        var networks: [CIDR] = []
        var rejected: [String] = []
        for (field, values) in [("spec.podCIDRs", node.podCIDRs), ("status.addresses", node.addresses)] {
            for (i, text) in values.enumerated() {
                do {
                    networks.append(try CIDR(parsing: text, field: "node[\(node.name)].\(field)[\(i)]"))
                } catch {
                    rejected.append(error.description)
                }
            }
        }
        return (ClusterNodeNetwork(name: node.name, zone: place.zone, region: place.region, networks: networks), rejected)
    }
}
