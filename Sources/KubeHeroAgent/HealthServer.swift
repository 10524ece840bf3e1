import HTTPTypes
import Hummingbird
import Logging
import NIOCore
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
public func makeHealthServer(host: String, port: Int, status: @escaping @Sendable () -> AgentStatus, logger: Logger) -> some Service {
    let router = Router()
    router.get("/healthz") { _, _ -> Response in
        let s = status()
        let body = "{\"status\":\"ok\",\"connected\":\(s.shipping.connected),\"queuedBatches\":\(s.queuedBatches),\"metadata\":\"\(jsonEscaped(s.metadata))\"}"
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
    router.get("/metrics") { _, _ -> Response in
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: status().prometheus)))
    }
    return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "kubehero-agent"), logger: logger)
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
