import GRPCCore
import KubeHeroAudit
import GRPCNIOTransportHTTP2
import KubeHeroCore
import KubeHeroPKI
import KubeHeroStore
import KubeHeroWire
import SwiftProtobuf
import Synchronization
import Logging
import X509

/// The agent stream (`kubehero.wire.v1.Ingest/Stream`).
///
/// The TLS layer has already verified the client certificate against the hub CA (expired and
/// foreign certificates never get here). This handler then takes the cluster from the
/// certificate's SAN URI — never from a message — refuses removed clusters and revoked
/// certificates, and for each batch: decodes, validates, prices, commits (grouped with other
/// streams' batches) and acknowledges. An invalid batch gets a `Reject` naming the field and
/// the stream goes on; nothing of it is stored.
public struct IngestService: WireIngest.ServiceProtocol {
    let store: any HubStore
    let pricer: BatchPricer
    let committer: IngestCommitter
    let registry: StreamRegistry
    let metrics: HubMetrics
    /// Enforcement sets for edge operators' streams; nil: no directives are sent.
    let enforcement: EnforcementBroadcaster?
    let limits: BatchLimits
    /// How far back a batch may reach: the hub remembers batch keys (and keeps minute rows)
    /// this long, so an older batch could not be told from a re-send and is refused.
    let horizonMillis: Int64
    let now: @Sendable () -> Int64
    let logger: Logger

    /// How far ahead of the hub's clock a batch may end (node clock skew).
    static let maxFutureMillis: Int64 = 10 * 60_000

    public init(
        store: any HubStore, pricer: BatchPricer, committer: IngestCommitter, registry: StreamRegistry,
        metrics: HubMetrics, enforcement: EnforcementBroadcaster? = nil, limits: BatchLimits = .standard, horizonMillis: Int64,
        now: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.enforcement = enforcement
        self.store = store
        self.pricer = pricer
        self.committer = committer
        self.registry = registry
        self.metrics = metrics
        self.limits = limits
        self.horizonMillis = horizonMillis
        self.now = now
        self.logger = logger
    }

    public func stream(
        request: StreamingServerRequest<WireAgentMessage>,
        context: ServerContext
    ) async throws -> StreamingServerResponse<WireHubMessage> {
        let (cluster, serial) = try await authenticate(context)
        metrics.streamOpened()
        var logger = self.logger
        logger[metadataKey: "cluster"] = "\(cluster.name)"
        logger[metadataKey: "peer"] = "\(context.remotePeer)"
        let streamLogger = logger

        return StreamingServerResponse { writer in
            let (id, closed) = registry.register(cluster: cluster.name, serialHex: serial)
            defer { registry.unregister(id: id) }
            let subscription = enforcement?.subscribe(cluster: cluster.name)
            // Set when the stream's hello says it is an edge operator: only operators get sets.
            let role = StreamRole()
            defer { if let subscription { enforcement?.unsubscribe(id: subscription.id) } }
            streamLogger.debug("agent stream opened")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await closure in closed {
                        switch closure {
                        case .revoked(let reason):
                            metrics.streamRevoked()
                            streamLogger.info("closing agent stream", metadata: ["reason": "\(reason)"])
                            throw RPCError(code: .permissionDenied, message: reason)
                        case .shutdown:
                            throw RPCError(code: .unavailable, message: "hub is shutting down; reconnect")
                        }
                    }
                }
                if let subscription {
                    // The only writer of directives on this stream, so sets arrive in order.
                    group.addTask {
                        for await set in subscription.sets where role.isOperator {
                            try await writer.write(.with { $0.directive = WireDirective(set) })
                        }
                        // Unsubscribed: the stream is ending; wait for the message loop.
                        try await Task.sleep(for: .seconds(86_400 * 365))
                    }
                }
                group.addTask {
                    try await handleMessages(
                        request.messages, writer: writer, cluster: cluster, streamID: id, subscription: subscription?.id,
                        role: role, logger: streamLogger
                    )
                }
                // The message loop ends when the agent closes its side; the revocation watch
                // ends only when unregistered, so stop it here.
                try await group.next()
                group.cancelAll()
            }
            return [:]
        }
    }

    private func handleMessages(
        _ messages: RPCAsyncSequence<WireAgentMessage, any Error>, writer: RPCWriter<WireHubMessage>,
        cluster: ClusterRecord, streamID: Int, subscription: Int?, role: StreamRole, logger: Logger
    ) async throws {
        for try await message in messages {
            switch message.kind {
            case .hello(let hello):
                registry.setNode(id: streamID, node: hello.nodeName)
                logger.info("agent connected", metadata: [
                    "node": "\(hello.nodeName)", "agent": "\(hello.agentInstanceID)", "version": "\(hello.agentVersion)", "role": "\(hello.role)",
                ])
                // An edge operator gets its cluster's enforcement set now, and every change after.
                if hello.role == "operator", let subscription {
                    role.markOperator()
                    enforcement?.resend(id: subscription)
                }
            case .directiveAck(let ack):
                try await acknowledge(ack, cluster: cluster.name, logger: logger)
            case .batch(let wire):
                let reply = try await handle(batch: wire, cluster: cluster, logger: logger)
                try await writer.write(reply)
            case .none:
                metrics.rejected()
                try await writer.write(.with {
                    $0.reject = .with { $0.field = "kind"; $0.reason = "empty message: expected hello, batch or directiveAck" }
                })
            }
        }
    }

    /// Records that the cluster's operator holds an enforcement set (once per new set).
    func acknowledge(_ ack: WireDirectiveAck, cluster: String, logger: Logger) async throws {
        guard ack.kind == EnforcementSet.directiveKind, let policies = enforcement?.acknowledge(cluster: cluster, setID: ack.id) else { return }
        let t = now()
        try await store.recordEnforcementAck(
            EnforcementAckRecord(cluster: cluster, directiveID: ack.id, policies: policies, ackedAtMillis: t),
            audit: [AuditDraft(
                timeMillis: t, actor: .cluster(cluster), action: .enforcementAck, subject: "cluster/\(cluster)",
                details: ["set": .string(ack.id), "policies": .array(policies.map { .string($0) })]
            )]
        )
        logger.info("enforcement set acknowledged", metadata: ["set": "\(ack.id)", "policies": "\(policies)"])
    }

    /// Decodes, validates, prices and commits one batch; the reply is its Ack or Reject.
    func handle(batch wire: WireUsageBatch, cluster: ClusterRecord, logger: Logger) async throws -> WireHubMessage {
        let batch: UsageBatch
        do throws(ValidationError) {
            batch = try UsageBatch(wire: wire)
            try batch.validate(limits: limits)
            try checkWindow(batch)
        } catch {
            metrics.rejected()
            logger.warning("rejected batch", metadata: [
                "agent": "\(wire.agentInstanceID)", "sequence": "\(wire.sequence)", "field": "\(error.field)", "reason": "\(error.reason)",
            ])
            return .with {
                $0.reject = .with {
                    $0.agentInstanceID = wire.agentInstanceID
                    $0.sequence = wire.sequence
                    $0.field = error.field
                    $0.reason = error.reason
                }
            }
        }
        var record = pricer.record(for: batch, cluster: cluster, receivedAtMillis: now())
        if record.droppedTicks > 0 || record.droppedBatches > 0 {
            // A visible gap: recorded in the audit log in the batch's own transaction.
            record.audit = AuditDraft(
                timeMillis: record.receivedAtMillis, actor: .cluster(cluster.name), action: .agentGap,
                subject: "cluster/\(cluster.name)/node/\(record.node)",
                details: [
                    "agentInstance": .string(record.agentInstanceID), "sequence": .int(Int64(clamping: record.sequence)),
                    "droppedTicks": .int(Int64(clamping: record.droppedTicks)), "droppedBatches": .int(Int64(clamping: record.droppedBatches)),
                    "windowStart": .string(Timestamp.rfc3339(millis: record.windowStartMillis)),
                    "windowEnd": .string(Timestamp.rfc3339(millis: record.windowEndMillis)),
                ]
            )
        }
        let outcome: IngestOutcome
        do {
            outcome = try await committer.commit(record)
        } catch {
            metrics.failed()
            // Not acknowledged: the agent keeps the batch and resends it after reconnecting.
            throw RPCError(code: .unavailable, message: "could not commit batch \(batch.sequence): \(error)")
        }
        return .with {
            $0.ack = .with {
                $0.agentInstanceID = batch.agentInstanceID
                $0.sequence = batch.sequence
                $0.duplicate = outcome == .duplicate
            }
        }
    }

    /// Refuses batches the hub could not de-duplicate (older than its horizon) and batches
    /// from a node whose clock runs far ahead.
    func checkWindow(_ batch: UsageBatch) throws(ValidationError) {
        let t = now()
        if batch.windowEndUnixMillis < t - horizonMillis {
            throw ValidationError(
                field: "windowStartUnixMillis",
                "batch ended at \(Timestamp.rfc3339(millis: batch.windowEndUnixMillis)), more than \(DurationText.format(millis: horizonMillis)) ago: older than the hub keeps minute data and batch keys"
            )
        }
        if batch.windowEndUnixMillis > t + Self.maxFutureMillis {
            throw ValidationError(
                field: "windowStartUnixMillis",
                "batch ends at \(Timestamp.rfc3339(millis: batch.windowEndUnixMillis)), more than 10 minutes after the hub's time \(Timestamp.rfc3339(millis: t)): check the node's clock"
            )
        }
    }

    /// The cluster and certificate serial of the verified peer, or an RPC error saying why not.
    private func authenticate(_ context: ServerContext) async throws -> (ClusterRecord, String) {
        guard let specific = context.transportSpecific as? HTTP2ServerTransport.Posix.Context,
              let certificate = specific.peerCertificate
        else {
            metrics.streamRefused(.noCertificate)
            throw RPCError(code: .unauthenticated, message: "a client certificate issued by this hub is required")
        }
        let name: String
        do {
            name = try ClusterIdentity.clusterName(from: certificate)
        } catch {
            metrics.streamRefused(.notAClusterCertificate)
            throw RPCError(code: .unauthenticated, message: "client certificate names no cluster: \(error)")
        }
        let serial = certificate.serialHex
        let record = try await store.certificate(serialHex: serial)
        guard let record, record.clusterName == name else {
            metrics.streamRefused(.unknownCluster)
            throw RPCError(code: .permissionDenied, message: "certificate \(serial) was not issued to a registered cluster")
        }
        if record.revokedAtMillis != nil {
            metrics.streamRefused(.revoked)
            throw RPCError(code: .permissionDenied, message: "certificate \(serial) of cluster \(name) is revoked")
        }
        guard let cluster = try await store.cluster(named: name) else {
            metrics.streamRefused(.unknownCluster)
            throw RPCError(code: .permissionDenied, message: "cluster \(name) is not registered")
        }
        return (cluster, serial)
    }
}

/// Whether a stream's hello said it is an edge operator (set once, read by its directive writer).
final class StreamRole: Sendable {
    private let flag = Mutex(false)
    var isOperator: Bool { flag.withLock { $0 } }
    func markOperator() { flag.withLock { $0 = true } }
}
