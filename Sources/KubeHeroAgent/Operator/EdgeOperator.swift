import KubeHeroCore
import KubeHeroIngestClient
import KubeHeroPKI
import KubeHeroWire
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Everything `kubehero-agent operator` can be told.
public struct OperatorOptions: Sendable {
    public var hub: HostPort
    /// The cluster bundle from `kubehero cluster add` (the agents' own).
    public var bundlePath: String
    /// Where the enforcement set is kept across restarts.
    public var stateDir: String
    public var webhookListen = HostPort(host: "0.0.0.0", port: 8443)
    public var webhookCertPath: String
    public var webhookKeyPath: String
    /// Longest wait between reconnection attempts to the hub.
    public var maxBackoff: Duration = .seconds(30)

    public init(hub: HostPort, bundlePath: String, stateDir: String, webhookCertPath: String, webhookKeyPath: String) {
        self.hub = hub
        self.bundlePath = bundlePath
        self.stateDir = stateDir
        self.webhookCertPath = webhookCertPath
        self.webhookKeyPath = webhookKeyPath
    }
}

/// The edge operator: holds its own stream to the hub with the cluster's certificate, keeps
/// the enforcement set the hub sends (on disk, so it survives restarts and hub outages), and
/// serves the validating admission webhook that denies new pods in an enforced scope. The hub
/// is never in the admission path: the webhook answers from the kept set.
public final class EdgeOperator: Sendable {
    public let state: EnforcementStateFile
    public let stats: AdmissionStats
    let link: HubLink
    let webhook: AdmissionServer
    let logger: Logger

    public static func make(options: OperatorOptions, logger: Logger, webhookBound: (@Sendable (Int) -> Void)? = nil) throws -> EdgeOperator {
        func read(_ path: String, _ flag: String) throws(ValidationError) -> String {
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError(field: flag, "cannot read \(path): \(error)")
            }
        }
        let bundle: ClusterBundle
        do {
            bundle = try ClusterBundle(pemString: try read(options.bundlePath, "--cert"))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError(field: "--cert", "\(options.bundlePath) is not a cluster bundle from `kubehero cluster add`: \(error)")
        }
        let state = try EnforcementStateFile(directory: options.stateDir)
        let config = IngestClientConfiguration(
            host: options.hub.host, port: options.hub.port, certificatePEM: bundle.certificatePEM,
            privateKeyPEM: bundle.privateKeyPEM, caCertificatePEM: bundle.caCertificatePEM
        )
        let stats = AdmissionStats()
        let webhook: AdmissionServer
        do {
            webhook = try AdmissionServer(
                host: options.webhookListen.host, port: options.webhookListen.port,
                certificatePEM: try read(options.webhookCertPath, "--webhook-cert"), keyPEM: try read(options.webhookKeyPath, "--webhook-key"),
                set: { state.set }, stats: stats, logger: logger, bound: webhookBound
            )
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError(field: "--webhook-cert", "the webhook's certificate or key cannot be used: \(error)")
        }
        return EdgeOperator(
            state: state, link: HubLink(config: config, cluster: bundle.clusterName, state: state, maxBackoff: options.maxBackoff, logger: logger),
            webhook: webhook, stats: stats, logger: logger
        )
    }

    init(state: EnforcementStateFile, link: HubLink, webhook: AdmissionServer, stats: AdmissionStats, logger: Logger) {
        self.state = state
        self.link = link
        self.webhook = webhook
        self.logger = logger
        self.stats = stats
    }

    /// Whether the stream to the hub is up.
    public var connected: Bool { link.status.connected }

    public func run(handleSignals: Bool = true) async throws {
        logger.info("edge operator starting", metadata: [
            "cluster": "\(link.cluster)", "enforcedPolicies": "\(state.set.rules.map(\.policy))", "state": "\(state.path)",
        ])
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: link), .init(service: webhook)],
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger
        ))
        try await group.run()
    }
}

/// The operator's stream to the hub: says it is an operator, keeps each enforcement set it
/// gets, acknowledges it once kept, and reconnects with backoff when the stream breaks.
struct HubLink: Service {
    final class Status: Sendable {
        private let up = Mutex(false)
        var connected: Bool { up.withLock { $0 } }
        func set(_ value: Bool) { up.withLock { $0 = value } }
    }

    let config: IngestClientConfiguration
    let cluster: String
    let state: EnforcementStateFile
    let maxBackoff: Duration
    let logger: Logger
    let status = Status()

    func run() async throws {
        let instance = "operator-\(UUID().uuidString.lowercased())"
        await cancelWhenGracefulShutdown {
            var backoff: Duration = .milliseconds(500)
            while !Task.isCancelled {
                do {
                    try await withIngestStream(config, hello: (instance, ""), agentVersion: "kubehero-operator", role: "operator") { stream in
                        for try await reply in stream.replies {
                            // The hub answers an operator's hello with its set: the first reply
                            // is the first sign the stream is really up.
                            status.set(true)
                            guard case .directive(let id, let kind, let parameters) = reply else { continue }
                            try await keep(id: id, kind: kind, parameters: parameters, stream: stream)
                        }
                    }
                    backoff = .milliseconds(500)
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("hub stream failed; enforcing the kept set meanwhile", metadata: [
                        "error": "\(error)", "retryIn": "\(backoff)", "enforcedPolicies": "\(state.set.rules.map(\.policy))",
                    ])
                }
                status.set(false)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maxBackoff)
            }
        }
        status.set(false)
    }

    private func keep(id: String, kind: String, parameters: [String: String], stream: IngestStream) async throws {
        guard kind == EnforcementSet.directiveKind else {
            logger.info("ignoring a directive of an unknown kind", metadata: ["id": "\(id)", "kind": "\(kind)"])
            return
        }
        let set: EnforcementSet
        do {
            set = try EnforcementSet(directiveID: id, kind: kind, parameters: parameters)
        } catch {
            logger.error("refusing a malformed enforcement directive", metadata: ["id": "\(id)", "error": "\(error)"])
            return
        }
        // File I/O (write, fsync, rename) off the cooperative pool.
        let changed = try await NIOThreadPool.singleton.runIfActive { try state.replace(with: set) }
        if changed {
            logger.info("enforcement set kept", metadata: ["set": "\(set.id)", "policies": "\(set.rules.map(\.policy))"])
        }
        stream.acknowledge(directiveID: id, kind: kind)
    }
}
