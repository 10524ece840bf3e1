import KubeHeroCore
import KubeHeroPricing
import KubeHeroStore

/// Turns a validated batch into priced 1-minute rows: pure, no I/O.
///
/// Each tick is attributed to the minute its start falls in. Per (container, minute):
/// CPU core-nanoseconds and egress bytes are summed exactly; memory byte-seconds are
/// `sum(bytes * tickMillis) / 1000`, accumulated in 128 bits and rounded once; requests are
/// `request * sampled time`. Each row is then priced once with its node's rates.
public struct BatchPricer: Sendable {
    public var priceBook: any PriceBook

    public init(priceBook: any PriceBook) {
        self.priceBook = priceBook
    }

    /// The store record for `batch`, received from `cluster` at `receivedAtMillis`.
    public func record(for batch: UsageBatch, cluster: ClusterRecord, receivedAtMillis: Int64) -> IngestRecord {
        let rates = priceBook.rates(cloud: cluster.cloud, region: cluster.region, node: batch.node)
        var rows = [UsageRow]()
        rows.reserveCapacity(batch.containers.count * 2)
        let tickMillis = Int64(batch.tickMillis)
        let classes = NetworkClass.allCases

        for c in batch.containers {
            let key = ContainerKey(
                cluster: cluster.name, node: batch.node.name, namespace: c.identity.namespace,
                pod: c.identity.pod, container: c.identity.container
            )
            let networkColumns = classes.map { c.networkEgressBytes[$0] }
            var i = 0
            while i < c.tickCount {
                let tickStart = batch.windowStartUnixMillis + Int64(c.firstTick + i) * tickMillis
                let minute = floorDiv(tickStart, 60_000) * 60_000
                // Ticks of this container that start in the same minute.
                var cpu: Int64 = 0
                var memoryByteMillis: Int128 = 0
                var network: [Int64] = [0, 0, 0, 0]
                var ticks: Int64 = 0
                while i < c.tickCount {
                    let t = batch.windowStartUnixMillis + Int64(c.firstTick + i) * tickMillis
                    if t >= minute + 60_000 { break }
                    cpu += Int64(c.cpuNanos[i])
                    memoryByteMillis += Int128(c.memoryWorkingSetBytes[i]) * Int128(tickMillis)
                    for k in 0..<networkColumns.count {
                        if let column = networkColumns[k] { network[k] += Int64(clamping: column[i]) }
                    }
                    ticks += 1
                    i += 1
                }
                let sampledMillis = ticks * tickMillis
                let usage = Usage(
                    cpuCoreNanos: cpu,
                    cpuRequestCoreNanos: Int64(c.identity.cpuRequestMillicores) * sampledMillis * 1_000,
                    memoryByteSeconds: Int64(clamping: Int128.scaled(memoryByteMillis, by: 1, over: 1_000)),
                    memoryRequestByteSeconds: Int64(clamping: Int128.scaled(Int128(c.identity.memoryRequestBytes) * Int128(sampledMillis), by: 1, over: 1_000)),
                    networkEgressBytes: network,
                    sampledMillis: sampledMillis
                )
                rows.append(UsageRow(
                    key: key, labels: c.identity.labels, startMillis: minute, usage: usage,
                    cost: Allocation.cost(of: usage, at: rates)
                ))
            }
        }
        return IngestRecord(
            cluster: cluster.name, agentInstanceID: batch.agentInstanceID, sequence: batch.sequence,
            node: batch.node.name, receivedAtMillis: receivedAtMillis, windowStartMillis: batch.windowStartUnixMillis,
            windowEndMillis: batch.windowEndUnixMillis, sampleCount: batch.sampleCount,
            droppedTicks: batch.droppedTicks, droppedBatches: batch.droppedBatches, rows: rows
        )
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
