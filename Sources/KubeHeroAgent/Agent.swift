import KubeHeroCore
import KubeHeroIngestClient
import KubeHeroPKI
import Logging
import ServiceLifecycle
import UnixSignals

// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BatchBuffer: ShippingQueue, BatchSink {}

/// Everything `kubehero-agent run` can be told.
public struct AgentOptions: Sendable {
    public var hub: HostPort
    /// The cluster bundle from `kubehero cluster add` (certificate, key, hub CA).
    public var bundlePath: String
    public var nodeName: String
    /// The kubelet's base URL; nil runs on cgroup identity alone.
    public var kubelet: KubeletClient.Configuration?
    /// The Kubernetes API server, for this node's Node object (labels, capacity, the price
    /// override annotation) and the sizes of the claims its pods mount; nil: flags and the host
    /// describe the node, and no storage is reported.
    public var kubernetesAPI: KubeletClient.Configuration?
    public var tickMillis: UInt32 = 1000
    public var flushMillis: Int64 = 60_000
    public var rescanMillis: Int64 = 5_000
    public var spoolDir: String?
    public var spoolMaxBytes = 256 << 20
    public var buffer = BufferLimits()
    public var cgroup = CgroupOptions()
    /// eBPF sampling (`--bpf`) and the network destination classes.
    public var bpf = BPFOptions()
    /// Node labels (instance type, zone, region, capacity type) as Kubernetes would have them.
    public var nodeLabels: [String: String] = [:]
    public var cpuCapacityMillicores: UInt32 = 0
    public var memoryCapacityBytes: UInt64 = 0
    /// Where /healthz and /metrics are served; nil for none.
    public var healthListen: HostPort? = HostPort(host: "127.0.0.1", port: 9464)
    public var drainTimeout: Duration = .seconds(10)
    /// Unmap code the agent is done with at the end of each start-up phase and every 10
    /// minutes (`--resident-code`; `ResidentCode`). The executable turns it on; in-process users
    /// (tests) keep their code.
    public var residentCode: ResidentCode.Mode = .keep

    public init(hub: HostPort, bundlePath: String, nodeName: String) {
        self.hub = hub
        self.bundlePath = bundlePath
        self.nodeName = nodeName
    }

    /// Checks values a flag or environment variable may have got wrong; errors name the flag.
    public func validate() throws(ValidationError) {
        if nodeName.isEmpty || nodeName.utf8.count > 253 { throw ValidationError(field: "--node", "must be 1-253 characters") }
        if tickMillis < 100 || tickMillis > 60_000 { throw ValidationError(field: "--tick", "must be between 100ms and 60s") }
        if flushMillis < Int64(tickMillis) || flushMillis % Int64(tickMillis) != 0 || flushMillis > 3_600_000 {
            throw ValidationError(field: "--flush-interval", "must be a whole number of ticks, at most 1h")
        }
        if buffer.maxBatches < 1 { throw ValidationError(field: "--buffer-batches", "must be at least 1") }
        if buffer.maxBytes < 64 << 10 { throw ValidationError(field: "--buffer-bytes", "must be at least 64 KiB") }
    }
}

/// The node agent: samples container cgroups every tick, closes a batch every flush interval,
/// keeps batches until the hub acknowledges them (in memory, and in the spool when given), and
/// streams them over mTLS. Runs as one `ServiceGroup`; graceful shutdown closes the open batch
/// and gives the shipper `drainTimeout` to deliver what is pending.
public final class Agent: Sendable {
    public let options: AgentOptions
    public let tickLoop: TickLoop
    public let shipper: Shipper
    public let buffer: BatchBuffer
    public let agentInstanceID: String
    let services: [any Service]
    let onStop: @Sendable () async -> Void
    let logger: Logger

    public static func make(options: AgentOptions, logger: Logger) throws -> Agent {
        try options.validate()
        let bundleText: String
        do {
            bundleText = try String(contentsOfFile: options.bundlePath, encoding: .utf8)
        } catch {
            throw ValidationError(field: "--cert", "cannot read \(options.bundlePath): \(error)")
        }
        let bundle: ClusterBundle
        do {
            bundle = try ClusterBundle(pemString: bundleText)
        } catch {
            throw ValidationError(field: "--cert", "\(options.bundlePath) is not a cluster bundle from `kubehero cluster add`: \(error)")
        }

        // Configuration and the bundle's PEM are done with; loading the BPF programs holds the
        // kernel's BTF for a moment, so that peak sits on as little as possible.
        ResidentCode.Trimmer.phaseDone("configuration", mode: options.residentCode, logger: logger)
        let place = NodeInfo.fromLabels(options.nodeLabels, name: options.nodeName, cpuMillicores: 0, memoryBytes: 0)
        let sampling = try EBPFSampler.select(cgroup: options.cgroup, bpf: options.bpf, zone: place.zone, region: place.region, logger: logger)
        let sampler = sampling.sampler

        var spool: Spool?
        var identity = (agentInstanceID: "agent-\(UUID().uuidString.lowercased())", nextSequence: UInt64(1))
        if let dir = options.spoolDir {
            let s = try Spool(directory: dir, limits: SpoolLimits(maxBytes: options.spoolMaxBytes), logger: logger)
            identity = s.identity()
            spool = s
            logger.info("spool", metadata: [
                "dir": "\(dir)", "agent": "\(identity.agentInstanceID)", "unacknowledged": "\(s.recoveryReport.unacknowledgedRecords)",
            ])
        } else {
            logger.info("no --spool-dir: batches are kept in memory only", metadata: ["maxBatches": "\(options.buffer.maxBatches)"])
        }
        let buffer = BatchBuffer(limits: options.buffer, spool: spool, logger: logger)

        var services: [any Service] = []
        let namer: any ContainerNamer
        let metadataStatus: @Sendable () -> String
        let onStop: @Sendable () async -> Void
        let outside = options.cgroup.match != nil
        let api = try options.kubernetesAPI.map { configuration throws(KubeletError) in try KubernetesAPI(configuration: configuration, logger: logger) }
        if let kubelet = options.kubelet {
            let client = try KubeletClient(configuration: kubelet, logger: logger)
            let claims = api.map { ClaimSizes(api: $0, logger: logger) }
            let source = PodMetadataSource(fetcher: client, nodeName: options.nodeName, claims: claims, logger: logger)
            namer = MetadataNamer(source: source, outsideKubernetes: outside)
            services.append(source)
            metadataStatus = {
                switch source.status {
                case .ok: "kubelet"
                case .degraded(let reason): "cgroup identity: \(reason)"
                }
            }
            onStop = {
                try? await client.shutdown()
                try? await api?.shutdown()
            }
        } else {
            metadataStatus = { "cgroup identity (no --kubelet)" }
            onStop = { try? await api?.shutdown() }
            logger.notice("no --kubelet: naming containers by cgroup identity alone")
            namer = CgroupNamer(nodeName: options.nodeName, outsideKubernetes: outside)
        }

        let node = NodeInfo.fromLabels(
            options.nodeLabels, name: options.nodeName,
            cpuMillicores: options.cpuCapacityMillicores > 0 ? options.cpuCapacityMillicores : HostCapacity.cpuMillicores(),
            memoryBytes: options.memoryCapacityBytes > 0 ? options.memoryCapacityBytes : HostCapacity.memoryBytes()
        )
        let config = IngestClientConfiguration(
            host: options.hub.host, port: options.hub.port, certificatePEM: bundle.certificatePEM,
            privateKeyPEM: bundle.privateKeyPEM, caCertificatePEM: bundle.caCertificatePEM
        )
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let shipper = Shipper(
            config: config, queue: buffer, hello: (identity.agentInstanceID, options.nodeName),
            drainTimeout: options.drainTimeout, now: now, logger: logger
        )
        var loopConfig = TickLoop.Configuration(agentInstanceID: identity.agentInstanceID, firstSequence: identity.nextSequence, node: node)
        if let api {
            let nodeSource = NodeObjectSource(api: api, fallback: node, flagLabels: options.nodeLabels, logger: logger)
            services.append(nodeSource)
            loopConfig.currentNode = { nodeSource.current }
        } else {
            logger.notice("no Kubernetes API server: the node is described by flags and the host, and volume claims are not reported")
        }
        if let api, let programs = sampling.programs, let network = sampling.network {
            if options.bpf.fromNodes {
                services.append(NodeNetworkSource(
                    api: api, configured: network, nodeName: options.nodeName, flagZone: place.zone, flagRegion: place.region,
                    refreshInterval: options.bpf.fromNodesInterval, logger: logger, install: { rules throws(BPFError) in try programs.install(rules) }))
            } else {
                logger.notice("--net-from-nodes off: network classes come from the configuration alone")
            }
        }
        loopConfig.tickMillis = options.tickMillis
        loopConfig.flushMillis = options.flushMillis
        loopConfig.rescanMillis = options.rescanMillis
        let tickLoop = TickLoop(configuration: loopConfig, sampler: sampler, namer: namer, sink: buffer, logger: logger) {
            shipper.notify()
        }
        // Shutdown runs in reverse order: the tick loop closes its batch first, the shipper
        // drains last.
        var ordered: [any Service] = [shipper]
        ordered += services
        if let listen = options.healthListen {
            let status: @Sendable () -> AgentStatus = {
                let b = buffer.stats
                return AgentStatus(
                    sampling: tickLoop.statsSnapshot, shipping: shipper.stats.snapshot, queuedBatches: b.queuedBatches,
                    queuedBytes: b.queuedBytes, droppedBatchesTotal: b.droppedBatches, metadata: metadataStatus(), nowMillis: now()
                )
            }
            ordered.append(makeHealthServer(host: listen.host, port: listen.port, status: status, logger: logger))
        }
        ordered.append(tickLoop)
        if options.residentCode == .trim {
            ordered.append(ResidentCode.Trimmer(mode: .trim, logger: logger) { shipper.stats.snapshot.acknowledged })
        }
        ResidentCode.Trimmer.phaseDone("setup", mode: options.residentCode, logger: logger)
        return Agent(
            options: options, tickLoop: tickLoop, shipper: shipper, buffer: buffer, agentInstanceID: identity.agentInstanceID,
            services: ordered, onStop: { await onStop(); sampling.close() }, logger: logger
        )
    }

    init(options: AgentOptions, tickLoop: TickLoop, shipper: Shipper, buffer: BatchBuffer, agentInstanceID: String,
         services: [any Service], onStop: @escaping @Sendable () async -> Void, logger: Logger) {
        self.options = options
        self.tickLoop = tickLoop
        self.shipper = shipper
        self.buffer = buffer
        self.agentInstanceID = agentInstanceID
        self.services = services
        self.onStop = onStop
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT (when `handleSignals`) or the task is cancelled.
    public func run(handleSignals: Bool = true) async throws {
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            await onStop()
            throw error
        }
        await onStop()
    }
}

/// Names containers from kubelet metadata, falling back to cgroup identity.
struct MetadataNamer: ContainerNamer {
    let source: PodMetadataSource<ContinuousClock>
    let outsideKubernetes: Bool
    func identity(for container: CgroupContainer) -> ContainerIdentity {
        source.identity(for: container, outsideKubernetes: outsideKubernetes)
    }
}

/// Names containers by cgroup identity only.
struct CgroupNamer: ContainerNamer {
    let nodeName: String
    let outsideKubernetes: Bool
    func identity(for container: CgroupContainer) -> ContainerIdentity {
        PodMetadataSnapshot.cgroupOnly(for: container, nodeName: nodeName, outsideKubernetes: outsideKubernetes)
    }
}

/// The host's CPU and memory, for node capacity when no flag gives it.
enum HostCapacity {
    static func cpuMillicores() -> UInt32 { UInt32(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1)) * 1000 }

    static func memoryBytes() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kib = UInt64(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kib * 1024
    }
}
