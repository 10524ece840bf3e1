import KubeHeroCore
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the eBPF destination-class tables in step with the cluster's nodes: every
/// `refreshInterval` it lists the Node objects (in small pages) and classes each node's pod
/// CIDRs and addresses by its `topology.kubernetes.io/region` and `zone` labels: this node's
/// are same-node, those of nodes in another region cross-region, in this node's zone
/// same-zone, the others cross-zone. Everything configured by flags, file or environment
/// stays, and wins where it names the same network.
///
/// This node's zone and region are the flags' (`--node-label topology.kubernetes.io/zone=...`)
/// when given, else its own Node object's. Until the first answer, and whenever the API server cannot be
/// asked, the tables keep what they hold: the configured rules, or the last good listing. Each
/// change of state is logged once. As a `Service`, ``run()`` refreshes until graceful shutdown.
///
/// Where the CNI gives pods addresses from the VPC (no `spec.podCIDRs`, e.g. EKS), only node
/// addresses are learnt this way; give the zones' subnets (`zone-subnet`) for pod traffic.
public final class NodeNetworkSource: Service, Sendable {
    /// What the tables were last built from.
    public struct Status: Hashable, Sendable {
        /// Nodes listed, and the zones among them.
        public var nodes = 0
        public var zones = 0
        /// Rules in the tables.
        public var rules = 0
        /// This node's zone and region as used ("" when unknown).
        public var zone = ""
        public var region = ""
        /// Why the last refresh failed; nil after a good one.
        public var failure: String?
    }

    private let api: KubernetesAPI
    private let install: @Sendable ([NetworkClassRule]) throws(BPFError) -> BPFPrograms.RuleChange
    private let configured: NetworkClassConfiguration
    private let nodeName: String
    private let flagZone: String
    private let flagRegion: String
    private let refreshInterval: Duration
    private let logger: Logger
    private let state = Mutex<(status: Status, logged: String?, rejected: Set<String>)>((Status(), nil, []))

    /// `configured` is the configuration the tables were filled from at start (flags, file,
    /// environment and this host's addresses); `install` replaces the tables' contents
    /// (`BPFPrograms.install`). `flagZone` and `flagRegion` are this node's zone and region
    /// from flags, "" if none.
    public init(
        api: KubernetesAPI, configured: NetworkClassConfiguration, nodeName: String, flagZone: String, flagRegion: String = "",
        refreshInterval: Duration = .seconds(300), logger: Logger,
        install: @escaping @Sendable ([NetworkClassRule]) throws(BPFError) -> BPFPrograms.RuleChange
    ) {
        self.api = api
        self.configured = configured
        self.nodeName = nodeName
        self.flagZone = flagZone
        self.flagRegion = flagRegion
        self.refreshInterval = refreshInterval
        self.logger = logger
        self.install = install
    }

    public var status: Status { state.withLock { $0.status } }

    /// The tables for these nodes: what `refresh` installs.
    public func rules(for nodes: [ClusterNodeNetwork]) -> (rules: [NetworkClassRule], zone: String, region: String) {
        let me = nodes.first { $0.name == nodeName }
        let zone = flagZone.isEmpty ? me?.zone ?? "" : flagZone
        let region = flagRegion.isEmpty ? me?.region ?? "" : flagRegion
        var network = configured
        network.clusterNodes = nodes
        return (network.rules(zone: zone, region: region, nodeName: nodeName), zone, region)
    }

    /// Lists the nodes once and installs the tables they give; a failure is logged (once per
    /// reason), never thrown. Returns whether the tables now reflect this listing.
    @discardableResult
    public func refresh() async -> Bool {
        let listed: (nodes: [KubernetesNode], rejected: [String])
        do {
            listed = try await api.nodes()
        } catch {
            if Task.isCancelled { return false }
            fail("listing the cluster's nodes: \(error)")
            return false
        }
        var nodes: [ClusterNodeNetwork] = []
        var rejected = listed.rejected
        for object in listed.nodes {
            let (node, bad) = ClusterNodeNetwork.from(object)
            nodes.append(node)
            rejected += bad
        }
        let (rules, zone, region) = rules(for: nodes)
        let change: BPFPrograms.RuleChange
        do {
            change = try install(rules)
        } catch {
            fail("installing the class rules of \(nodes.count) nodes: \(error)")
            return false
        }
        let status = Status(nodes: nodes.count, zones: Set(nodes.map(\.zone).filter { !$0.isEmpty }).count, rules: rules.count, zone: zone, region: region)
        let (report, newlyRejected) = state.withLock { state -> (Bool, [String]) in
            let key = "ok \(status.nodes) \(status.zones) \(status.zone) \(status.region)"
            defer { state.status = status; state.logged = key }
            let fresh = rejected.filter { !state.rejected.contains($0) }
            state.rejected = Set(rejected)
            return (state.logged != key || change.written + change.removed > 0, fresh)
        }
        for reason in newlyRejected { logger.warning("a node's network is left out of the class tables: \(reason)") }
        if report {
            logger.info("network classes from the cluster's nodes", metadata: [
                "nodes": "\(status.nodes)", "zones": "\(status.zones)", "zone": "\(zone.isEmpty ? "unknown" : zone)",
                "region": "\(region.isEmpty ? "unknown" : region)", "rules": "\(status.rules)", "written": "\(change.written)", "removed": "\(change.removed)",
            ])
        }
        return true
    }

    private func fail(_ reason: String) {
        let first = state.withLock { state -> Bool in
            state.status.failure = reason
            defer { state.logged = reason }
            return state.logged != reason
        }
        if first { logger.warning("\(reason); the network class tables keep their rules") }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: self.refreshInterval)
            }
        }
    }
}
