import KubeHeroCore
import KubeHeroWire
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Counters of the admission webhook, for /metrics.
public final class AdmissionStats: Sendable {
    private let counts = Mutex((allowed: 0, denied: 0, invalid: 0))

    public init() {}

    func record(allowed: Bool) { counts.withLock { if allowed { $0.allowed += 1 } else { $0.denied += 1 } } }
    func invalid() { counts.withLock { $0.invalid += 1 } }

    public var snapshot: (allowed: Int, denied: Int, invalid: Int) { counts.withLock { $0 } }
}

/// Serves `POST /validate/pods` (AdmissionReview v1 in and out) over TLS: denies creating pods
/// in the scope of an enforced policy, with a message naming the policy and its spend. The
/// decision reads only memory (the current enforcement set), so it answers at once, also
/// while the hub is unreachable.
public struct AdmissionServer: Service {
    public static let path = "/validate/pods"
    /// Larger than any pod Kubernetes admits (its objects are at most 1.5 MiB in etcd).
    static let maxBodyBytes = 3 << 20

    let host: String
    let port: Int
    let tls: TLSConfiguration
    let set: @Sendable () -> EnforcementSet
    let stats: AdmissionStats
    let logger: Logger
    let bound: (@Sendable (Int) -> Void)?

    /// - Parameters:
    ///   - certificatePEM, keyPEM: the webhook's serving certificate (the API server checks it
    ///     against the ValidatingWebhookConfiguration's caBundle).
    ///   - bound: called with the port once listening (tests ask for port 0).
    public init(
        host: String, port: Int, certificatePEM: String, keyPEM: String, set: @escaping @Sendable () -> EnforcementSet,
        stats: AdmissionStats = AdmissionStats(), logger: Logger, bound: (@Sendable (Int) -> Void)? = nil
    ) throws {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
        )
        tls.minimumTLSVersion = .tlsv12
        self.tls = tls
        self.host = host
        self.port = port
        self.set = set
        self.stats = stats
        self.logger = logger
        self.bound = bound
    }

    public func run() async throws {
        let context = try NIOSSLContext(configuration: tls)
        let set = self.set
        let stats = self.stats
        let logger = self.logger
        let channel = try await HTTPServing.bind(host: host, port: port, tls: context) {
            AdmissionHandler(set: set, stats: stats, logger: logger)
        }
        let port = channel.localAddress?.port ?? port
        logger.info("admission webhook listening", metadata: ["address": "\(host):\(port)", "path": "\(Self.path)"])
        bound?(port)
        try await HTTPServing.serveUntilShutdown(channel)
    }
}

/// One request at a time per connection: collects the body (bounded), decides, answers.
final class AdmissionHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let set: @Sendable () -> EnforcementSet
    private let stats: AdmissionStats
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(set: @escaping @Sendable () -> EnforcementSet, stats: AdmissionStats, logger: Logger) {
        self.set = set
        self.stats = stats
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > AdmissionServer.maxBodyBytes {
                tooLarge = true
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let h = head else { return }
            head = nil
            respond(to: h, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        var status = HTTPResponseStatus.ok
        var contentType = "application/json"
        var reply: [UInt8]
        if path != AdmissionServer.path {
            (status, contentType, reply) = (.notFound, "text/plain; charset=utf-8", Array("not found: the webhook is POST \(AdmissionServer.path)\n".utf8))
        } else if head.method != .POST {
            (status, contentType, reply) = (.methodNotAllowed, "text/plain; charset=utf-8", Array("method not allowed: use POST\n".utf8))
        } else if tooLarge {
            stats.invalid()
            (status, contentType, reply) = (.payloadTooLarge, "text/plain; charset=utf-8", Array("AdmissionReview larger than \(AdmissionServer.maxBodyBytes) bytes\n".utf8))
        } else {
            do {
                let decision = try AdmissionReview.decide(body, set: set())
                stats.record(allowed: decision.allowed)
                if !decision.allowed {
                    logger.info("denied pod creation", metadata: ["policy": "\(decision.policy ?? "")", "uid": "\(decision.uid)"])
                }
                reply = AdmissionReview.response(decision)
            } catch {
                stats.invalid()
                status = .badRequest
                contentType = "text/plain; charset=utf-8"
                reply = Array("\(error)\n".utf8)
            }
        }
        writeResponse(context: context, to: head, status: status, contentType: contentType, body: context.channel.allocator.buffer(bytes: reply))
    }
}
