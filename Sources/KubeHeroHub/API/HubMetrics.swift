import Synchronization

/// The hub's counters, rendered as Prometheus text on `/metrics`.
///
/// Kept in-process and simple: counters only grow, and labels are closed sets (reasons are
/// a fixed list), so the exposition stays bounded whatever agents send.
public final class HubMetrics: Sendable {
    public enum RefusalReason: String, CaseIterable, Sendable {
        case noCertificate = "no_certificate"
        case notAClusterCertificate = "not_a_cluster_certificate"
        case unknownCluster = "unknown_cluster"
        case revoked = "revoked"
    }

    private struct State {
        var batchesCommitted = 0
        var batchesDuplicate = 0
        var batchesRejected = 0
        var batchesFailed = 0
        var samplesCommitted = 0
        var rowsCommitted = 0
        var commitGroups = 0
        var streamsOpened = 0
        var streamsRefused: [RefusalReason: Int] = [:]
        var streamsRevoked = 0
        var droppedTicksReported: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    func committed(batches: Int, duplicates: Int, samples: Int, rows: Int, droppedTicks: UInt64) {
        state.withLock {
            $0.batchesCommitted += batches
            $0.batchesDuplicate += duplicates
            $0.samplesCommitted += samples
            $0.rowsCommitted += rows
            $0.commitGroups += 1
            $0.droppedTicksReported += droppedTicks
        }
    }

    func rejected() { state.withLock { $0.batchesRejected += 1 } }
    func failed() { state.withLock { $0.batchesFailed += 1 } }
    func streamOpened() { state.withLock { $0.streamsOpened += 1 } }
    func streamRefused(_ reason: RefusalReason) { state.withLock { $0.streamsRefused[reason, default: 0] += 1 } }
    func streamRevoked() { state.withLock { $0.streamsRevoked += 1 } }

    public var samplesCommitted: Int { state.withLock { $0.samplesCommitted } }
    public var batchesCommitted: Int { state.withLock { $0.batchesCommitted } }

    /// Prometheus text exposition (version 0.0.4).
    public func render(connectedAgents: [String: Int], lastBatchAgeSeconds: [String: Double]) -> String {
        let s = state.withLock { $0 }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { out += "\(name)\(labels) \(value)\n" }
        }
        metric("kubehero_ingest_batches_total", "counter", "Batches received, by result.", [
            ("{result=\"committed\"}", "\(s.batchesCommitted)"),
            ("{result=\"duplicate\"}", "\(s.batchesDuplicate)"),
            ("{result=\"rejected\"}", "\(s.batchesRejected)"),
            ("{result=\"failed\"}", "\(s.batchesFailed)"),
        ])
        metric("kubehero_ingest_samples_total", "counter", "Container-samples committed.", [("", "\(s.samplesCommitted)")])
        metric("kubehero_ingest_rows_total", "counter", "1-minute rows written (before merging).", [("", "\(s.rowsCommitted)")])
        metric("kubehero_ingest_commit_groups_total", "counter", "Store transactions that committed batches.", [("", "\(s.commitGroups)")])
        metric("kubehero_ingest_dropped_ticks_total", "counter", "Ticks agents reported they could not deliver.", [("", "\(s.droppedTicksReported)")])
        metric("kubehero_ingest_streams_opened_total", "counter", "Agent streams accepted.", [("", "\(s.streamsOpened)")])
        metric("kubehero_ingest_streams_refused_total", "counter", "Agent streams refused, by reason.",
               RefusalReason.allCases.map { ("{reason=\"\($0.rawValue)\"}", "\(s.streamsRefused[$0, default: 0])") })
        metric("kubehero_ingest_streams_revoked_total", "counter", "Open agent streams closed by revocation.", [("", "\(s.streamsRevoked)")])
        metric("kubehero_connected_agents", "gauge", "Open agent streams per cluster.",
               connectedAgents.sorted(by: { $0.key < $1.key }).map { ("{cluster=\"\(escape($0.key))\"}", "\($0.value)") })
        metric("kubehero_last_batch_age_seconds", "gauge", "Seconds since the last committed batch, per cluster.",
               lastBatchAgeSeconds.sorted(by: { $0.key < $1.key }).map { ("{cluster=\"\(escape($0.key))\"}", String($0.value)) })
        return out
    }

    private func escape(_ s: String) -> String {
        var r = ""
        for ch in s {
            switch ch {
            case "\\": r += "\\\\"
            case "\"": r += "\\\""
            case "\n": r += "\\n"
            default: r.append(ch)
            }
        }
        return r
    }
}
