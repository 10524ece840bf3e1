import Foundation
@testable import KubeHeroAgent
import KubeHeroCore
import KubeHeroPKI
import Logging
import Synchronization
import Testing

/// The network class tables from the cluster's Node objects: the recorded GKE NodeList
/// (three zones, one dual-stack node, one node with a pod CIDR that does not parse).
@Suite("Network classes from the cluster's nodes")
struct NodeNetworkTests {
    static let me = "gke-prod-default-pool-1a2b3c4d-x7k2"       // europe-west1-b, 10.52.0.0/24
    static let sameZone = "gke-prod-default-pool-1a2b3c4d-q9m4" // europe-west1-b, dual-stack
    static let otherZone = "gke-prod-default-pool-5e6f7a8b-h3p8" // europe-west1-c
    static let badCIDR = "gke-prod-default-pool-9c0d1e2f-bad0"  // europe-west1-d, pod CIDR /33

    static func recordedNodes() throws -> [KubernetesNode] {
        let list = try JSONDecoder().decode(KubernetesNodePage.self, from: try MetadataFixtures.apiData("nodelist-gke-3-zones.json"))
        #expect(list.rejected.isEmpty && list.next.isEmpty)
        return list.nodes
    }

    static func ip(_ text: String) -> [UInt8] { IPAddress.bytes(text)! }

    @Test("a Node object gives its zone, region, pod CIDRs and internal and external addresses")
    func nodeNetworks() throws {
        let nodes = try Self.recordedNodes()
        #expect(nodes.count == 5)
        let (me, rejected) = ClusterNodeNetwork.from(try #require(nodes.first { $0.name == Self.me }))
        #expect(rejected.isEmpty)
        #expect(me.zone == "europe-west1-b" && me.region == "europe-west1")
        #expect(me.networks.map(\.description) == ["10.52.0.0/24", "10.132.0.21/32", "34.77.10.21/32"])
        let dual = ClusterNodeNetwork.from(try #require(nodes.first { $0.name == Self.sameZone })).node
        #expect(dual.networks.map(\.description) == ["10.52.1.0/24", "fd20:0:0:1:0:0:0:0/64", "10.132.0.22/32", "fd20:0:0:0:0:0:0:22/128"])
        let (bad, why) = ClusterNodeNetwork.from(try #require(nodes.first { $0.name == Self.badCIDR }))
        #expect(bad.networks.map(\.description) == ["10.132.0.42/32"], "the bad pod CIDR is left out, the address kept")
        #expect(why == ["node[\(Self.badCIDR)].spec.podCIDRs[0]: \"10.52.4.0/33\": the prefix length must be 0-32"])
    }

    @Test("this node's networks are same-node, its zone's same-zone, other zones' cross-zone; configured rules win")
    func rulesFromNodes() throws {
        var network = NetworkClassConfiguration()
        try network.apply(text: "pod-cidr 10.52.0.0/14\nclass 10.52.3.0/24 internet", origin: "test")
        network.clusterNodes = try Self.recordedNodes().map { ClusterNodeNetwork.from($0).node }
        let rules = network.rules(zone: "europe-west1-b", nodeName: Self.me)
        func at(_ address: String) -> NetworkClass { NetworkClassConfiguration.classify(Self.ip(address), rules: rules) }
        #expect(at("10.52.0.17") == .sameNode)        // a pod on this node
        #expect(at("10.132.0.21") == .sameNode)       // this node
        #expect(at("10.52.1.9") == .sameZone)         // a pod on another node in europe-west1-b
        #expect(at("fd20::1:0:0:0:9") == .sameZone)   // the same, over IPv6
        #expect(at("10.132.0.22") == .sameZone)
        #expect(at("10.52.2.9") == .crossZone)        // europe-west1-c
        #expect(at("10.132.0.31") == .crossZone)
        #expect(at("10.132.0.42") == .crossZone)      // europe-west1-d, its address despite the bad CIDR
        #expect(at("10.52.3.9") == .internet)         // the explicit class beats the node's pod CIDR
        #expect(at("10.52.4.9") == .sameZone)         // only the cluster pod CIDR: in-cluster class
        #expect(at("8.8.8.8") == .internet)

        // Zone unknown: other nodes are in-cluster, this node is still same-node.
        network.inClusterClass = .crossZone
        let unknown = network.rules(zone: "", nodeName: Self.me)
        #expect(NetworkClassConfiguration.classify(Self.ip("10.52.1.9"), rules: unknown) == .crossZone)
        #expect(NetworkClassConfiguration.classify(Self.ip("10.52.0.9"), rules: unknown) == .sameNode)
    }

    @Test("a node in another region is cross-region; with either region unknown the zones decide")
    func rulesAcrossRegions() async throws {
        var network = NetworkClassConfiguration()
        var nodes = try Self.recordedNodes().map { ClusterNodeNetwork.from($0).node }
        // A node of the same cluster in another region (a cluster that spans regions).
        nodes.append(ClusterNodeNetwork(name: "far", zone: "us-central1-a", region: "us-central1", networks: [try CIDR(parsing: "10.60.0.0/24", field: "t")]))
        // One whose labels do not say its region: its zone decides.
        nodes.append(ClusterNodeNetwork(name: "unlabelled", zone: "europe-west1-c", region: "", networks: [try CIDR(parsing: "10.61.0.0/24", field: "t")]))
        network.clusterNodes = nodes
        let rules = network.rules(zone: "europe-west1-b", region: "europe-west1", nodeName: Self.me)
        func at(_ address: String, _ rules: [NetworkClassRule]) -> NetworkClass { NetworkClassConfiguration.classify(Self.ip(address), rules: rules) }
        #expect(at("10.60.0.9", rules) == .crossRegion)
        #expect(at("10.61.0.9", rules) == .crossZone)
        #expect(at("10.52.1.9", rules) == .sameZone)
        #expect(at("10.52.2.9", rules) == .crossZone)
        #expect(at("10.52.0.17", rules) == .sameNode)
        // This node's region unknown: no node is cross-region.
        #expect(at("10.60.0.9", network.rules(zone: "europe-west1-b", nodeName: Self.me)) == .crossZone)

        // The source takes this node's region from its own Node object, and a flag wins over it.
        let log = MetadataLogRecorder()
        let api = try KubernetesAPI(configuration: .init(baseURL: "https://127.0.0.1:1", tokenFile: nil, caFile: nil), logger: log.logger)
        for (flag, expected) in [("", "europe-west1"), ("us-central1", "us-central1")] {
            let source = NodeNetworkSource(
                api: api, configured: NetworkClassConfiguration(), nodeName: Self.me, flagZone: "", flagRegion: flag, logger: log.logger,
                install: { _ in BPFPrograms.RuleChange() })
            let (rules, _, region) = source.rules(for: nodes)
            #expect(region == expected)
            #expect(at("10.60.0.9", rules) == (flag.isEmpty ? .crossRegion : .crossZone), "from \(expected)")
        }
        try await api.shutdown()
    }

    @Test("the node list is read page by page with continue tokens; an item that is not a Node is named and skipped")
    func pagedList() async throws {
        try await MetadataKubernetesAPITests.withFakeAPIServer { configuration, _ in
            let api = try KubernetesAPI(configuration: configuration, logger: MetadataKubeletClientTests.quietLogger)
            let (nodes, rejected) = try await api.nodes(pageSize: 2)
            let all = try await api.nodes()
            try await api.shutdown()
            #expect(nodes.map(\.name) == all.nodes.map(\.name))
            #expect(nodes.count == 5)
            #expect(rejected.count == 1 && rejected[0] == "page 3 items[1].metadata.name: missing", "\(rejected)")
            #expect(all.rejected.count == 1 && all.rejected[0] == "page 1 items[5].metadata.name: missing", "\(all.rejected)")
        }
    }

    @Test("the bound on pages is an error that says so")
    func tooManyPages() async throws {
        try await MetadataKubernetesAPITests.withFakeAPIServer { configuration, _ in
            let api = try KubernetesAPI(configuration: configuration, logger: MetadataKubeletClientTests.quietLogger)
            let error = await #expect(throws: KubeletError.self) { try await api.nodes(pageSize: 1, maxPages: 3) }
            try await api.shutdown()
            #expect(error?.code == .tooLarge)
            #expect(error?.description.contains("more than 3 pages of 1 nodes") == true, "\(String(describing: error))")
        }
    }

    /// What `install` was given, call by call.
    final class Installed: Sendable {
        private let calls = Mutex<[[NetworkClassRule]]>([])
        func install(_ rules: [NetworkClassRule]) -> BPFPrograms.RuleChange {
            calls.withLock { $0.append(rules) }
            return BPFPrograms.RuleChange(written: rules.count, removed: 0)
        }
        var all: [[NetworkClassRule]] { calls.withLock { $0 } }
    }

    @Test("the source installs the nodes' classes, takes this node's zone from its Node object, and keeps the tables when the API server is away")
    func sourceRefreshes() async throws {
        let log = MetadataLogRecorder()
        let installed = Installed()
        var zoneC = NetworkClassConfiguration()
        try zoneC.apply(text: "zone-subnet europe-west1-c 192.0.2.0/24", origin: "test")
        let configured = zoneC
        let source: NodeNetworkSource = try await MetadataKubernetesAPITests.withFakeAPIServer { configuration, _ in
            let api = try KubernetesAPI(configuration: configuration, logger: log.logger)
            let source = NodeNetworkSource(
                api: api, configured: configured, nodeName: Self.me, flagZone: "", logger: log.logger,
                install: { rules in installed.install(rules) })
            #expect(await source.refresh())
            #expect(await source.refresh())
            try await api.shutdown()
            return source
        }
        let status = source.status
        #expect(status.nodes == 5 && status.zones == 3 && status.zone == "europe-west1-b" && status.failure == nil)
        let rules = try #require(installed.all.last)
        #expect(installed.all.count == 2)
        #expect(status.rules == rules.count)
        #expect(NetworkClassConfiguration.classify(Self.ip("10.52.1.9"), rules: rules) == .sameZone)
        #expect(NetworkClassConfiguration.classify(Self.ip("10.52.2.9"), rules: rules) == .crossZone)
        #expect(NetworkClassConfiguration.classify(Self.ip("192.0.2.9"), rules: rules) == .crossZone, "configured rules stay")
        // The bad pod CIDR and the item that is not a Node are each reported once, however
        // many refreshes see them.
        let leftOut = log.messages(at: .warning).filter { $0.contains("left out of the class tables") }
        #expect(leftOut.count == 2, "\(leftOut)")
        #expect(leftOut.contains { $0.contains("\"10.52.4.0/33\": the prefix length must be 0-32") }, "\(leftOut)")
        #expect(leftOut.contains { $0.contains("page 1 items[5].metadata.name: missing") }, "\(leftOut)")
        #expect(log.messages(at: .info).filter { $0.contains("network classes from the cluster's nodes") }.count == 2)

        // The server is gone: the refresh fails, nothing is installed, the failure is logged once.
        #expect(!(await source.refresh()))
        #expect(!(await source.refresh()))
        #expect(installed.all.count == 2)
        #expect(source.status.failure?.hasPrefix("listing the cluster's nodes: ") == true)
        #expect(log.messages(at: .warning).filter { $0.contains("the network class tables keep their rules") }.count == 1)
    }

    @Test("a zone given as a flag wins over the Node object's")
    func flagZoneWins() async throws {
        let nodes = try Self.recordedNodes().map { ClusterNodeNetwork.from($0).node }
        let log = MetadataLogRecorder()
        let api = try KubernetesAPI(configuration: .init(baseURL: "https://127.0.0.1:1", tokenFile: nil, caFile: nil), logger: log.logger)
        let source = NodeNetworkSource(
            api: api, configured: NetworkClassConfiguration(), nodeName: Self.me, flagZone: "europe-west1-c", logger: log.logger,
            install: { _ in BPFPrograms.RuleChange() })
        let (rules, zone, _) = source.rules(for: nodes)
        try await api.shutdown()
        #expect(zone == "europe-west1-c")
        #expect(NetworkClassConfiguration.classify(Self.ip("10.52.2.9"), rules: rules) == .sameZone)
        #expect(NetworkClassConfiguration.classify(Self.ip("10.52.1.9"), rules: rules) == .crossZone)
    }
}
