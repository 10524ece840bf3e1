import Foundation
@testable import KubeHeroAgent
import KubeHeroCore
import KubeHeroPKI
import Testing

@Suite("Network destination classes: CIDRs, precedence, directives")
struct NetworkClassTests {
    static func address(_ text: String) -> [UInt8] { IPAddress.bytes(text)! }

    @Test("CIDRs parse, clear host bits, and contain what they should")
    func cidrs() throws {
        let v4 = try CIDR(parsing: "10.244.3.7/16", field: "f")
        #expect(v4.description == "10.244.0.0/16")
        #expect(v4.contains(Self.address("10.244.255.1")) && !v4.contains(Self.address("10.245.0.1")))
        #expect(try CIDR(parsing: "192.0.2.9", field: "f").prefixLength == 32)
        let v6 = try CIDR(parsing: "fd00:1::5/32", field: "f")
        #expect(v6.description == "fd00:1:0:0:0:0:0:0/32")
        #expect(v6.contains(Self.address("fd00:1:ffff::1")) && !v6.contains(Self.address("10.0.0.1")))
        #expect(try CIDR(parsing: "0.0.0.0/0", field: "f").contains(Self.address("203.0.113.5")))
    }

    @Test("Bad CIDRs are refused naming where they came from")
    func badCIDRs() {
        #expect(throws: ValidationError(field: "--pod-cidr", "\"10.0.0.0/33\": the prefix length must be 0-32")) {
            try CIDR(parsing: "10.0.0.0/33", field: "--pod-cidr")
        }
        #expect(throws: ValidationError(field: "x", "\"10.0.0/8\" is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)")) {
            try CIDR(parsing: "10.0.0/8", field: "x")
        }
        #expect(throws: ValidationError.self) { try CIDR(parsing: "10.0.0.0/-1", field: "x") }
        #expect(throws: ValidationError.self) { try CIDR(parsing: "10.0.0.0/8/8", field: "x") }
    }

    @Test("Classes: node, own zone, other zones, in-cluster, private, else internet; the longest prefix wins")
    func classification() throws {
        var config = NetworkClassConfiguration()
        try config.apply(text: """
            # a cluster in us-east-1
            pod-cidr 10.244.0.0/16
            service-cidr 10.96.0.0/12
            node-pod-cidr 10.244.3.0/24
            node-ip 10.0.1.5
            zone-subnet us-east-1a 10.0.0.0/20
            zone-subnet us-east-1b 10.0.16.0/20
            class 203.0.113.0/24 cross-zone
            """, origin: "net.conf")
        let rules = config.rules(zone: "us-east-1a")
        func cls(_ a: String) -> NetworkClass { NetworkClassConfiguration.classify(Self.address(a), rules: rules) }
        #expect(cls("127.0.0.1") == .sameNode)
        #expect(cls("::1") == .sameNode)
        #expect(cls("10.0.1.5") == .sameNode, "this node's address, inside its zone's subnet")
        #expect(cls("10.244.3.17") == .sameNode, "a pod on this node")
        #expect(cls("10.0.2.9") == .sameZone)
        #expect(cls("10.0.17.1") == .crossZone)
        #expect(cls("10.244.9.1") == .sameZone, "a pod elsewhere: in-cluster class")
        #expect(cls("10.96.0.10") == .sameZone, "a service")
        #expect(cls("172.20.0.1") == .sameZone, "a private address")
        #expect(cls("203.0.113.50") == .crossZone, "an explicit class")
        #expect(cls("8.8.8.8") == .internet)
        #expect(cls("2001:db8::1") == .internet)

        // From a node in the other zone the zone subnets swap; with no zone both are cross-zone.
        let b = config.rules(zone: "us-east-1b")
        #expect(NetworkClassConfiguration.classify(Self.address("10.0.2.9"), rules: b) == .crossZone)
        #expect(NetworkClassConfiguration.classify(Self.address("10.0.17.1"), rules: b) == .sameZone)
        let none = config.rules(zone: "")
        #expect(NetworkClassConfiguration.classify(Self.address("10.0.2.9"), rules: none) == .crossZone)
    }

    @Test("Region subnets are cross-region unless they are this node's region; zone subnets and nodes win over them")
    func regions() throws {
        var config = NetworkClassConfiguration()
        try config.apply(text: """
            zone-subnet us-east-1a 10.0.0.0/20
            region-subnet us-east-1 10.0.0.0/16
            region-subnet us-west-2 10.1.0.0/16
            region-subnet eu-west-1 10.2.0.0/16
            region-subnet us-west-2 10.1.7.0/24   # a more specific one, also another region
            zone-subnet us-west-2a 10.1.7.0/24   # named as a zone too: the zone wins
            """, origin: "net.conf")
        let rules = config.rules(zone: "us-east-1a", region: "us-east-1")
        func cls(_ a: String, _ rules: [NetworkClassRule]) -> NetworkClass { NetworkClassConfiguration.classify(Self.address(a), rules: rules) }
        #expect(cls("10.0.2.9", rules) == .sameZone)
        #expect(cls("10.0.200.9", rules) == .sameZone, "this region's subnet is ignored: a private address, in-cluster class")
        #expect(cls("10.1.0.9", rules) == .crossRegion)
        #expect(cls("10.2.255.9", rules) == .crossRegion)
        #expect(cls("10.1.7.9", rules) == .crossZone, "a zone subnet wins over a region subnet for the same network")
        #expect(!rules.contains { $0.cidr.description == "10.0.0.0/16" }, "this region's own subnet makes no rule")

        // From us-west-2 the roles swap; with the region unknown every region subnet is cross-region.
        let west = config.rules(zone: "us-west-2b", region: "us-west-2")
        #expect(cls("10.1.0.9", west) == .sameZone)
        #expect(cls("10.0.200.9", west) == .crossRegion)
        let unknown = config.rules(zone: "us-east-1a")
        #expect(cls("10.0.200.9", unknown) == .crossRegion)
        #expect(cls("10.1.0.9", unknown) == .crossRegion)
        #expect(cls("10.0.2.9", unknown) == .sameZone, "the zone subnet still wins")

        #expect(throws: ValidationError(field: "f", "usage: region-subnet REGION CIDR")) { try config.apply("region-subnet us-west-2", source: "f") }
        #expect(throws: ValidationError.self) { try config.apply("region-subnet us-west-2 10.1.0.0/40", source: "f") }
        try config.apply("class 192.0.2.0/24 cross-region", source: "g")
        #expect(cls("192.0.2.1", config.rules(zone: "")) == .crossRegion)
    }

    @Test("The same network named twice gets the more specific source's class")
    func precedence() throws {
        var config = NetworkClassConfiguration()
        try config.apply("zone-subnet z2 10.0.0.0/8", source: "a")
        try config.apply("in-cluster-class internet", source: "b")
        #expect(NetworkClassConfiguration.classify(Self.address("10.1.1.1"), rules: config.rules(zone: "z1")) == .crossZone)
        try config.apply("class 10.0.0.0/8 same-node", source: "c")
        let rules = config.rules(zone: "z1")
        #expect(NetworkClassConfiguration.classify(Self.address("10.1.1.1"), rules: rules) == .sameNode)
        #expect(rules.filter { $0.cidr.description == "10.0.0.0/8" }.count == 1, "one rule per network")
        #expect(NetworkClassConfiguration.classify(Self.address("192.168.1.1"), rules: rules) == .internet, "in-cluster-class applies to private ranges")
    }

    @Test("Bad directives are refused naming the file and line, or the flag")
    func badDirectives() throws {
        var config = NetworkClassConfiguration()
        #expect(throws: ValidationError(field: "net.conf:2", "usage: zone-subnet ZONE CIDR")) {
            try config.apply(text: "pod-cidr 10.0.0.0/8\nzone-subnet 10.0.0.0/20", origin: "net.conf")
        }
        #expect(throws: ValidationError(field: "--net-class", "unknown class \"egress\"; expected one of same-node, same-zone, cross-zone, internet, cross-region")) {
            try config.apply("class 10.0.0.0/8 egress", source: "--net-class")
        }
        #expect(throws: ValidationError.self) { try config.apply("pod-cidrs 10.0.0.0/8", source: "x") }
        #expect(throws: ValidationError(field: "KUBEHERO_NET_CONFIG:2", "\"10.300.0.0/16\" is not an IP address or CIDR (e.g. 10.0.0.0/8, fd00::/8)")) {
            try config.apply(text: "pod-cidr 10.0.0.0/8; service-cidr 10.300.0.0/16", origin: "KUBEHERO_NET_CONFIG", separator: ";")
        }
    }

    @Test("Agent settings: --bpf mode, then file, environment and flags, in that order")
    func agentSettings() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-net-\(UUID().uuidString).conf").path
        try "zone-subnet a 10.0.0.0/20\nclass 198.51.100.0/24 internet\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let options = try BPFOptions.parse(
            mode: "off", file: file, environment: "pod-cidr 10.244.0.0/16;class 198.51.100.0/24 same-zone",
            flags: [("--net-class", "class 198.51.100.0/24 cross-zone")])
        #expect(options.mode == .off)
        #expect(options.network.podCIDRs.map(\.description) == ["10.244.0.0/16"])
        #expect(options.network.zoneSubnets["a"]?.map(\.description) == ["10.0.0.0/20"])
        #expect(NetworkClassConfiguration.classify(Self.address("198.51.100.1"), rules: options.network.rules(zone: "a")) == .crossZone, "the flag came last")
        #expect(throws: ValidationError(field: "--bpf", "must be auto, on or off, got \"yes\"")) {
            try BPFOptions.parse(mode: "yes", file: nil, environment: nil, flags: [])
        }
        #expect(throws: ValidationError.self) { try BPFOptions.parse(mode: nil, file: "/nonexistent/net.conf", environment: nil, flags: []) }
    }
}
