import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// What /healthz and /metrics report, gathered at request time.
public struct AgentStatus: Sendable {
    public var sampling: SamplingStats
    public var shipping: ShipperStatsSnapshot
    public var queuedBatches: Int
    public var queuedBytes: Int
    public var droppedBatchesTotal: UInt64
    public var metadata: String
    public var nowMillis: Int64

    public init(sampling: SamplingStats, shipping: ShipperStatsSnapshot, queuedBatches: Int, queuedBytes: Int,
                droppedBatchesTotal: UInt64, metadata: String, nowMillis: Int64) {
        self.sampling = sampling
        self.shipping = shipping
        self.queuedBatches = queuedBatches
        self.queuedBytes = queuedBytes
        self.droppedBatchesTotal = droppedBatchesTotal
        self.metadata = metadata
        self.nowMillis = nowMillis
    }

    /// Prometheus text exposition.
    public var prometheus: String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("kubehero_agent_ticks_total", "counter", "Ticks sampled.", "\(sampling.ticks)")
        metric("kubehero_agent_samples_total", "counter", "Container-samples taken.", "\(sampling.samples)")
        metric("kubehero_agent_missed_ticks_total", "counter", "Ticks skipped because the agent ran late.", "\(sampling.missedTicks)")
        metric("kubehero_agent_containers", "gauge", "Containers being sampled.", "\(sampling.containers)")
        metric("kubehero_agent_batches_closed_total", "counter", "Batches closed.", "\(sampling.batchesClosed)")
        metric("kubehero_agent_batches_queued", "gauge", "Batches waiting for acknowledgement.", "\(queuedBatches)")
        metric("kubehero_agent_batches_queued_bytes", "gauge", "Encoded bytes waiting for acknowledgement.", "\(queuedBytes)")
        metric("kubehero_agent_batches_sent_total", "counter", "Batch sends (including re-sends).", "\(shipping.sent)")
        metric("kubehero_agent_batches_acknowledged_total", "counter", "Batches the hub acknowledged.", "\(shipping.acknowledged)")
        metric("kubehero_agent_batches_rejected_total", "counter", "Batches the hub refused permanently.", "\(shipping.rejected)")
        metric("kubehero_agent_batches_dropped_total", "counter", "Batches dropped because the buffer was full.", "\(droppedBatchesTotal)")
        metric("kubehero_agent_hub_connected", "gauge", "1 while the stream to the hub is up.", shipping.connected ? "1" : "0")
        let age = shipping.lastAckMillis.map { String(Double(nowMillis - $0) / 1000) } ?? "NaN"
        metric("kubehero_agent_last_ack_age_seconds", "gauge", "Seconds since the hub last acknowledged a batch.", age)
        return out
    }
}

/// Serves /healthz and /metrics on a local port (for the kubelet's probes and Prometheus).
///
/// Plain SwiftNIO HTTP/1.1 rather than a web framework: two fixed GET routes do not pay for a
/// router, and the agent's binary (and with it its resident size) stays smaller. BENCHMARKS.md.
public func makeHealthServer(host: String, port: Int, status: @escaping @Sendable () -> AgentStatus, logger: Logger) -> some Service {
    HealthServer(host: host, port: port, status: status, logger: logger)
}

struct HealthServer: Service {
    let host: String
    let port: Int
    let status: @Sendable () -> AgentStatus
    let logger: Logger

    func run() async throws {
        let status = self.status
        let channel = try await HTTPServing.bind(host: host, port: port) { HealthHandler(status: status) }
        logger.debug("health listener up", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "\(host):\(port)")"])
        try await HTTPServing.serveUntilShutdown(channel)
    }
}

/// Answers one request at a time per connection (keep-alive as the client asks).
final class HealthHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let status: @Sendable () -> AgentStatus
    private var request: HTTPRequestHead?

    init(status: @escaping @Sendable () -> AgentStatus) {
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let code: HTTPResponseStatus
        let contentType: String
        let body: String
        switch (head.method, path) {
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            let s = status()
            code = .ok
            contentType = "application/json"
            body = "{\"status\":\"ok\",\"connected\":\(s.shipping.connected),\"queuedBatches\":\(s.queuedBatches),\"metadata\":\"\(jsonEscaped(s.metadata))\"}"
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            code = .ok
            contentType = "text/plain; version=0.0.4; charset=utf-8"
            body = status().prometheus
        case (_, "/healthz"), (_, "/metrics"):
            code = .methodNotAllowed
            contentType = "text/plain; charset=utf-8"
            body = "method not allowed\n"
        default:
            code = .notFound
            contentType = "text/plain; charset=utf-8"
            body = "not found\n"
        }
        writeResponse(context: context, to: head, status: code, contentType: contentType, body: context.channel.allocator.buffer(string: body))
    }
}

/// `text` with JSON string escapes for quotes, backslashes and control characters.
func jsonEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
