import GRPCCore
import GRPCNIOTransportHTTP2
import KubeHeroCore
import KubeHeroWire
import SwiftProtobuf

/// How to reach a hub's ingest listener with a cluster's credentials.
public struct IngestClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The cluster's client certificate, its private key and the hub CA (PEM).
    public var certificatePEM: String
    public var privateKeyPEM: String
    public var caCertificatePEM: String
    /// Check that the hub's certificate names `host` (on by default).
    public var verifyHostname = true
    /// Agent messages larger than this are refused locally before sending.
    public var maxMessageBytes = wireMaxMessageBytes

    public init(host: String, port: Int, certificatePEM: String, privateKeyPEM: String, caCertificatePEM: String) {
        self.host = host
        self.port = port
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.caCertificatePEM = caCertificatePEM
    }
}

/// What the hub answered to one batch (or pushed down the stream).
public enum IngestReply: Sendable, Hashable {
    case ack(agentInstanceID: String, sequence: UInt64, duplicate: Bool)
    case reject(agentInstanceID: String, sequence: UInt64, field: String, reason: String)
    case directive(id: String, kind: String, parameters: [String: String])

    init?(_ message: WireHubMessage) {
        switch message.kind {
        case .ack(let a): self = .ack(agentInstanceID: a.agentInstanceID, sequence: a.sequence, duplicate: a.duplicate)
        case .reject(let r): self = .reject(agentInstanceID: r.agentInstanceID, sequence: r.sequence, field: r.field, reason: r.reason)
        case .directive(let d): self = .directive(id: d.id, kind: d.kind, parameters: d.parameters)
        case .none: return nil
        }
    }
}

/// One open agent stream: send messages up, read replies down.
public struct IngestStream: Sendable {
    let outbound: AsyncStream<WireAgentMessage>.Continuation
    /// Acks, rejects and directives, in the order the hub sent them. Ends (or throws the RPC's
    /// error) when the stream closes.
    public let replies: AsyncThrowingStream<IngestReply, any Error>

    /// Queues a batch for sending.
    public func send(_ batch: UsageBatch) {
        outbound.yield(.with { $0.batch = WireUsageBatch(batch) })
    }

    /// Queues an already encoded message (tests use this to send what a real agent never would).
    public func send(raw message: WireAgentMessage) {
        outbound.yield(message)
    }

    /// Tells the hub this side holds directive `id` of `kind` (kept across restarts).
    public func acknowledge(directiveID id: String, kind: String) {
        outbound.yield(.with { $0.directiveAck = .with { $0.id = id; $0.kind = kind } })
    }

    /// Sends `batch` and waits for the hub's reply to it.
    public func sendAndWait(_ batch: UsageBatch) async throws -> IngestReply {
        send(batch)
        var iterator = replies.makeAsyncIterator()
        while let reply = try await iterator.next() {
            switch reply {
            case .ack(_, let seq, _) where seq == batch.sequence, .reject(_, let seq, _, _) where seq == batch.sequence:
                return reply
            default: continue
            }
        }
        throw IngestClientError(description: "stream closed before the hub answered batch \(batch.sequence)")
    }
}

public struct IngestClientError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Opens one mTLS gRPC stream to a hub, sends `hello` (with `role` "operator" for an edge
/// operator, which then gets its cluster's enforcement directives), runs `body` with the stream, then
/// half-closes and waits for the hub to finish answering.
///
/// ```swift
/// try await withIngestStream(config, hello: ("agent-1", "node-a")) { stream in
///     stream.send(batch)
///     for try await reply in stream.replies { ... }
/// }
/// ```
public func withIngestStream<Result: Sendable>(
    _ config: IngestClientConfiguration,
    hello: (agentInstanceID: String, nodeName: String),
    agentVersion: String = "kubehero-ingest-client",
    role: String = "",
    _ body: @Sendable @escaping (IngestStream) async throws -> Result
) async throws -> Result {
    let transport = try HTTP2ClientTransport.Posix(
        target: config.host.contains(":") ? .ipv6(address: config.host, port: config.port) : config.host.first?.isNumber == true
            ? .ipv4(address: config.host, port: config.port) : .dns(host: config.host, port: config.port),
        transportSecurity: .mTLS(
            certificateChain: [.bytes(Array(config.certificatePEM.utf8), format: .pem)],
            privateKey: .bytes(Array(config.privateKeyPEM.utf8), format: .pem)
        ) { tls in
            tls.trustRoots = .certificates([.bytes(Array(config.caCertificatePEM.utf8), format: .pem)])
            tls.serverCertificateVerification = config.verifyHostname ? .fullVerification : .noHostnameVerification
        },
        config: .defaults { c in
            c.backoff = .init(initial: .milliseconds(100), max: .seconds(1), multiplier: 1.6, jitter: 0.2)
        }
    )
    return try await withGRPCClient(transport: transport) { client in
        let ingest = WireIngest.Client(wrapping: client)
        let (outbound, outboundContinuation) = AsyncStream.makeStream(of: WireAgentMessage.self)
        let (replies, repliesContinuation) = AsyncThrowingStream.makeStream(of: IngestReply.self)
        outboundContinuation.yield(.with {
            $0.hello = .with {
                $0.agentInstanceID = hello.agentInstanceID
                $0.nodeName = hello.nodeName
                $0.agentVersion = agentVersion
                $0.role = role
            }
        })
        let stream = IngestStream(outbound: outboundContinuation, replies: replies)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                do {
                    try await ingest.stream(
                        request: StreamingClientRequest { writer in
                            for await message in outbound { try await writer.write(message) }
                        },
                        options: .defaults
                    ) { response in
                        for try await message in response.messages {
                            if let reply = IngestReply(message) { repliesContinuation.yield(reply) }
                        }
                    }
                    repliesContinuation.finish()
                } catch {
                    repliesContinuation.finish(throwing: error)
                    outboundContinuation.finish()
                }
                return nil
            }
            let result: Result
            do {
                result = try await body(stream)
            } catch {
                outboundContinuation.finish()
                group.cancelAll()
                throw error
            }
            outboundContinuation.finish()
            try await group.waitForAll()
            return result
        }
    }
}
