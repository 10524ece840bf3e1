import GRPCCore
import GRPCNIOTransportHTTP2
import Hummingbird
import HummingbirdTLS
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPKI
import KubeHeroPricing
import KubeHeroStore
import KubeHeroStoreSQLite
import KubeHeroWire
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Tunables with defaults a user rarely changes.
public struct HubSettings: Sendable {
    public var defaultCertificateValidityDays = 365
    public var minuteRetentionMillis: Int64 = 14 * 86_400_000
    public var hourRetentionMillis: Int64 = 400 * 86_400_000
    public var retentionSweepSeconds = 3600
    /// How often the audit log signs a checkpoint while entries are added.
    public var checkpointInterval: Duration = .milliseconds(500)
    public var batchLimits = BatchLimits.standard
    /// How often every BudgetPolicy is evaluated (`--policy-interval`).
    public var policyEvaluationInterval: Duration = .seconds(60)
    /// How often a replica that does not lead re-reads the stored policy states to hand its
    /// edge operators the same enforcement sets as the leader's (PostgreSQL, several replicas).
    public var enforcementSyncInterval: Duration = .seconds(5)
    /// Retries of alert webhooks.
    public var alertRetry = AlertRetryPolicy()

    public init() {}
}

/// How `kubehero-hub serve` is configured.
public struct HubOptions: Sendable {
    public var dataDir: String
    public var apiHost = "127.0.0.1"
    public var apiPort = 8443
    public var ingestHost = "0.0.0.0"
    public var ingestPort = 9443
    /// Serve the REST API over plain HTTP (behind an ingress that terminates TLS).
    public var plainHTTP = false
    /// Where catalogs come from (a file, a directory of catalogs, or an http(s) URL); nil uses
    /// the `pricing/` directory if present, else the built-in rate card. Imported as the first
    /// price version when the store has none, and re-read every `pricingRefreshMillis`.
    public var pricingSource: String?
    public var pricingRefreshMillis: Int64 = 6 * 3_600_000
    public var settings = HubSettings()
    /// Where the hub's state is kept (SQLite in the data dir unless told otherwise).
    public var database: HubDatabase = .sqlite
    /// How replicas on one PostgreSQL database elect the leader (unused with SQLite).
    public var leaderLease = LeaderLease.Settings()
    /// This replica's name in the leader lease (default: the host name).
    public var replicaName: String?

    public init(dataDir: String) { self.dataDir = dataDir }
}

/// Where a running hub listens (ports resolved when 0 was asked for).
public struct HubAddresses: Sendable, Hashable {
    public var apiHost: String
    public var apiPort: Int
    public var ingestHost: String
    public var ingestPort: Int
}

/// A configured hub: the store, the CA, the ingest listener, the REST API, and the background
/// jobs, run together in one `ServiceGroup`. Tests build and run exactly what `serve` runs.
public final class Hub: Sendable {
    public let services: HubServices
    public let options: HubOptions
    private let logger: Logger
    private let committer: IngestCommitter
    private let pricer: BatchPricer
    private let serverIdentity: (certificatePEM: String, keyPEM: String)
    private let ready = ReadySignal()
    private let groupBox = Mutex<ServiceGroup?>(nil)
    /// The lease this replica leads by, when several replicas share a PostgreSQL database.
    private let leaderLease: LeaderLease?

    /// Opens the data dir and store; nothing listens until `run()`.
    public static func open(options: HubOptions, logger: Logger, now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) async throws -> Hub {
        let dir = HubDataDir(path: options.dataDir)
        try dir.check(database: options.database)
        let ca = try CertificateAuthority(certificatePEM: try dir.read(dir.caCertificate), privateKeyPEM: try dir.read(dir.caKey))
        let keys = try AuditKeys.load(from: options.dataDir)
        let store = try await options.database.open(dataDir: dir, logger: logger)
        do {
            let audit = AuditLog(store: store, keys: keys, logger: logger)
            try await audit.open()
            try await Self.recordConfiguration(options, audit: audit, now: now())
            let pricing = try HubPricing(store: store, logger: logger)
            try await pricing.reload()
            try await Self.importInitialPrices(pricing, source: options.pricingSource, now: now(), logger: logger)
            return Hub(
                store: store, ca: ca, pricing: pricing, audit: audit, options: options,
                serverIdentity: (try dir.read(dir.serverCertificate), try dir.read(dir.serverKey)), logger: logger, now: now
            )
        } catch {
            try? await store.close()
            throw error
        }
    }

    /// Appends a `hub.config` entry when the configuration differs from the last one recorded.
    static func recordConfiguration(_ options: HubOptions, audit: AuditLog, now: Int64) async throws {
        let s = options.settings
        let config: [String: JSONValue] = [
            "api": .string("\(options.apiHost):\(options.apiPort)"), "ingest": .string("\(options.ingestHost):\(options.ingestPort)"),
            "plainHTTP": .bool(options.plainHTTP), "pricingSource": options.pricingSource.map { .string($0) } ?? .null,
            "minuteRetention": .string(DurationText.format(millis: s.minuteRetentionMillis)),
            "hourRetention": .string(DurationText.format(millis: s.hourRetentionMillis)),
            "certificateValidityDays": .int(Int64(s.defaultCertificateValidityDays)),
            "logKey": .string(audit.signer.verifierKey.id),
        ]
        let last = try await audit.store.auditEntries(matching: AuditQuery(action: AuditAction.hubConfig.rawValue, limit: 1, newestFirst: true)).first
        guard last?.details != config else { return }
        _ = try await audit.store.appendAudit([AuditDraft(timeMillis: now, actor: .hub, action: .hubConfig, subject: "hub", details: config)])
    }

    init(
        store: any HubStore, ca: CertificateAuthority, pricing: HubPricing, audit: AuditLog, options: HubOptions,
        serverIdentity: (String, String), logger: Logger, now: @escaping @Sendable () -> Int64
    ) {
        let metrics = HubMetrics()
        self.options = options
        self.logger = logger
        self.serverIdentity = serverIdentity
        self.pricer = BatchPricer(books: { pricing.book(at: $0) })
        var services = HubServices(store: store, ca: ca, audit: audit, registry: StreamRegistry(), metrics: metrics, settings: options.settings, now: now)
        services.pricing = pricing
        if case .postgres = options.database, let leases = store as? any LeaseStore {
            let lease = LeaderLease(store: leases, holder: options.replicaName ?? Self.hostName(), settings: options.leaderLease, logger: logger)
            self.leaderLease = lease
            services.leadership = lease
        } else {
            self.leaderLease = nil
        }
        services.policies = PolicyEngine(
            store: store, enforcement: EnforcementBroadcaster(), alerter: WebhookAlerter(retry: options.settings.alertRetry, logger: logger),
            now: now, logger: logger
        )
        self.services = services
        self.committer = IngestCommitter(store: store, logger: logger) { records, outcomes in
            var batches = 0, duplicates = 0, samples = 0, rows = 0
            var dropped: UInt64 = 0
            for (r, o) in zip(records, outcomes) {
                if o == .duplicate { duplicates += 1; continue }
                batches += 1
                samples += r.sampleCount
                rows += r.rows.count
                dropped += r.droppedTicks
            }
            metrics.committed(batches: batches, duplicates: duplicates, samples: samples, rows: rows, droppedTicks: dropped)
        }
    }

    /// The host name (a pod's name in Kubernetes), for the leader lease.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "hub" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The configured pricing source (or `pricing/` when present), nil for none.
    static func effectiveSource(_ configured: String?) -> PricingSource? {
        if let configured { return PricingSource(configured) }
        return FileManager.default.fileExists(atPath: "pricing/aws.json") ? PricingSource("pricing") : nil
    }

    /// A store without price versions gets the source (or the built-in rate card) as version 1,
    /// in force since ever, so that no sample is priced without a version. A store with
    /// versions gets the source imported, effective now, if it changed since.
    static func importInitialPrices(_ pricing: HubPricing, source configured: String?, now: Int64, logger: Logger) async throws {
        let source = effectiveSource(configured)
        let catalog = try await source?.load() ?? .builtIn
        let first = try await pricing.store.priceVersions().isEmpty
        if source == nil && !first { return }
        if source == nil {
            logger.warning("no pricing source (--pricing-source) and no pricing/ directory: every node is priced with the built-in default rate card")
        }
        try await pricing.importCatalog(
            catalog, origin: source?.location ?? "built-in default rate card", effectiveAtMillis: first ? 0 : now, nowMillis: now
        )
    }

    /// Runs until shut down (SIGTERM/SIGINT when `handleSignals`, or `shutdown()`).
    public func run(handleSignals: Bool = false) async throws {
        let api = try makeAPI()
        let grpc = try makeIngestServer()
        let retention = RetentionService(store: services.store, settings: options.settings, now: services.now, logger: logger)
        let checkpoints = CheckpointService(log: services.audit, interval: options.settings.checkpointInterval, now: services.now, logger: logger)
        let readiness = ReadinessService(grpc: grpc, ready: ready, apiHost: options.apiHost, ingestHost: options.ingestHost, logger: logger)
        let leadership = services.leadership
        // Services shut down in reverse order: the single-writer jobs (after the lease) stop
        // first, then the lease is given up, so that another replica leads while this one's
        // listeners and committer still drain.
        var members: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: committer),
            .init(service: IngestServerService(server: grpc, registry: services.registry)),
            .init(service: api),
        ]
        if let leaderLease { members.append(.init(service: leaderLease)) }
        members += [
            // Single-writer jobs: on the leader only.
            .init(service: LeaderOnlyService(leadership: leadership, inner: retention)),
            .init(service: LeaderOnlyService(leadership: leadership, inner: checkpoints)),
            .init(service: readiness),
        ]
        if let engine = services.policies {
            // Evaluation decides threshold crossings and enforcement: a single-writer job too.
            let evaluation = PolicyEvaluationService(engine: engine, interval: options.settings.policyEvaluationInterval, logger: logger)
            members.append(.init(service: LeaderOnlyService(leadership: leadership, inner: evaluation)))
            if leaderLease != nil {
                // Operators connected to another replica than the leader get the sets it decided.
                members.append(.init(service: EnforcementSyncService(
                    engine: engine, leadership: leadership, interval: options.settings.enforcementSyncInterval, logger: logger)))
            }
            if let alerter = engine.alerter { members.append(.init(service: alerter)) }
        }
        if let source = Self.effectiveSource(options.pricingSource), let pricing = services.pricing {
            members.append(.init(service: PricingRefreshService(
                pricing: pricing, source: source, intervalMillis: options.pricingRefreshMillis, now: services.now, logger: logger
            )))
        }
        let group = ServiceGroup(configuration: .init(
            services: members,
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger
        ))
        groupBox.withLock { $0 = group }
        do {
            try await group.run()
        } catch {
            try? await services.store.close()
            throw error
        }
        try await services.store.close()
    }

    /// Starts a graceful shutdown of `run()`.
    public func shutdown() async {
        let group = groupBox.withLock { $0 }
        await group?.triggerGracefulShutdown()
    }

    /// Waits until both listeners are bound and returns their addresses.
    public func addresses() async -> HubAddresses { await ready.wait() }

    private func makeAPI() throws -> some Service {
        let router = buildRouter(services)
        let ready = self.ready
        let configuration = ApplicationConfiguration(
            address: .hostname(options.apiHost, port: options.apiPort), serverName: "kubehero-hub"
        )
        let onRunning: @Sendable (any Channel) async -> Void = { channel in
            ready.apiBound(port: channel.localAddress?.port ?? 0)
        }
        if options.plainHTTP {
            logger.warning("REST API is served over plain HTTP (--plain-http): only behind an ingress that terminates TLS")
            return Application(router: router, configuration: configuration, onServerRunning: onRunning, logger: logger)
        }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serverIdentity.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serverIdentity.keyPEM.utf8), format: .pem))
        )
        tls.minimumTLSVersion = .tlsv12
        return Application(router: router, server: try .tls(.http1(), tlsConfiguration: tls), configuration: configuration, onServerRunning: onRunning, logger: logger)
    }

    private func makeIngestServer() throws -> GRPCServer<HTTP2ServerTransport.Posix> {
        let caPEM = services.ca.certificatePEM
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4OrIPv6(host: options.ingestHost, port: options.ingestPort),
            transportSecurity: .mTLS(
                certificateChain: [.bytes(Array(serverIdentity.certificatePEM.utf8), format: .pem)],
                privateKey: .bytes(Array(serverIdentity.keyPEM.utf8), format: .pem)
            ) { tls in
                // Only certificates issued by this hub's CA get through the handshake; expiry is
                // checked there too. Revocation and removal are checked per stream.
                tls.trustRoots = .certificates([.bytes(Array(caPEM.utf8), format: .pem)])
                tls.clientCertificateVerification = .noHostnameVerification
            },
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = wireMaxMessageBytes
            }
        )
        let service = IngestService(
            store: services.store, pricer: pricer, committer: committer, registry: services.registry,
            metrics: services.metrics, enforcement: services.policies?.enforcement, limits: options.settings.batchLimits,
            horizonMillis: options.settings.minuteRetentionMillis, now: services.now, logger: logger
        )
        return GRPCServer(transport: transport, services: [service])
    }
}

extension GRPCNIOTransportCore.SocketAddress {
    static func ipv4OrIPv6(host: String, port: Int) -> Self {
        host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    }
}

/// Runs the gRPC server as a `Service`. Agent streams never end on their own, so on shutdown
/// they are closed (agents reconnect elsewhere) before the server drains.
struct IngestServerService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let registry: StreamRegistry

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            registry.closeAll()
            server.beginGracefulShutdown()
        }
    }
}

/// Reports the ingest listener's address once it is bound, then idles until shutdown.
struct ReadinessService: Service {
    let grpc: GRPCServer<HTTP2ServerTransport.Posix>
    let ready: ReadySignal
    let apiHost: String
    let ingestHost: String
    let logger: Logger

    func run() async throws {
        var port = 0
        for _ in 0..<600 where port == 0 {
            if let address = try? await grpc.transport.listeningAddress {
                port = address.ipv4?.port ?? address.ipv6?.port ?? 0
            } else {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        ready.ingestBound(apiHost: apiHost, ingestHost: ingestHost, port: port)
        let addresses = await ready.wait()
        logger.info("hub listening", metadata: [
            "api": "\(addresses.apiHost):\(addresses.apiPort)", "ingest": "\(addresses.ingestHost):\(addresses.ingestPort)",
        ])
        try? await gracefulShutdown()
    }
}

/// Deletes rows past their resolution's retention, once at start and then every sweep interval.
struct RetentionService: Service {
    let store: any HubStore
    let settings: HubSettings
    let now: @Sendable () -> Int64
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let t = now()
                    let minutes = try await store.deleteRows(resolution: .minute, beforeMillis: t - settings.minuteRetentionMillis)
                    let hours = try await store.deleteRows(resolution: .hour, beforeMillis: t - settings.hourRetentionMillis)
                    // Ingest refuses batches older than the minute retention, so their keys
                    // are no longer needed for de-duplication.
                    let keys = try await store.deleteBatchKeys(windowEndBeforeMillis: t - settings.minuteRetentionMillis)
                    if minutes + hours + keys > 0 {
                        logger.info("retention", metadata: [
                            "minuteRowsDeleted": "\(minutes)", "hourRowsDeleted": "\(hours)", "batchKeysDeleted": "\(keys)",
                        ])
                    }
                } catch {
                    logger.warning("retention sweep failed; retrying next interval", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(settings.retentionSweepSeconds))
            }
        }
    }
}

/// Becomes ready when both listeners have reported their ports.
final class ReadySignal: Sendable {
    private struct State {
        var apiPort: Int?
        var ingest: (apiHost: String, ingestHost: String, port: Int)?
        var waiters: [CheckedContinuation<HubAddresses, Never>] = []
        var result: HubAddresses? {
            guard let apiPort, let ingest else { return nil }
            return HubAddresses(apiHost: ingest.apiHost, apiPort: apiPort, ingestHost: ingest.ingestHost, ingestPort: ingest.port)
        }
    }

    private let state = Mutex(State())

    func apiBound(port: Int) { update { $0.apiPort = port } }
    func ingestBound(apiHost: String, ingestHost: String, port: Int) { update { $0.ingest = (apiHost, ingestHost, port) } }

    private func update(_ change: (inout State) -> Void) {
        let (result, waiters) = state.withLock { s -> (HubAddresses?, [CheckedContinuation<HubAddresses, Never>]) in
            change(&s)
            guard let r = s.result else { return (nil, []) }
            defer { s.waiters.removeAll() }
            return (r, s.waiters)
        }
        if let result { for w in waiters { w.resume(returning: result) } }
    }

    func wait() async -> HubAddresses {
        await withCheckedContinuation { c in
            let r = state.withLock { s -> HubAddresses? in
                if let r = s.result { return r }
                s.waiters.append(c)
                return nil
            }
            if let r { c.resume(returning: r) }
        }
    }
}
