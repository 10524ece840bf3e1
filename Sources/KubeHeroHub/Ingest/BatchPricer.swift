import KubeHeroCore
import KubeHeroPricing
import KubeHeroStore

/// Turns a validated batch into priced 1-minute rows: pure, no I/O.
///
/// Each tick is attributed to the minute its start falls in. Per (container, minute):
/// CPU core-nanoseconds and egress bytes are summed exactly; memory byte-seconds are
/// `sum(bytes * tickMillis) / 1000`, accumulated in 128 bits and rounded once; requests (CPU,
/// memory, GPUs, volume claims) are `request * sampled time`. Each minute is priced with the
/// price version in force at its start; each row once, with its node's rates. Per minute the
/// node's idle cost (its price over the time the batch observed it, minus what the rows were
/// allocated) becomes an `__idle__` row, so allocated + idle = node cost to the nano-dollar.
public struct BatchPricer: Sendable {
    /// The price book in force at a time (Unix milliseconds).
    let books: @Sendable (Int64) -> any PriceBook

    /// Prices everything with one book.
    public init(priceBook: any PriceBook) {
        self.books = { _ in priceBook }
    }

    /// Prices each minute with the book in force at its start.
    public init(books: @escaping @Sendable (Int64) -> any PriceBook) {
        self.books = books
    }

    /// The store record for `batch`, received from `cluster` at `receivedAtMillis`.
    public func record(for batch: UsageBatch, cluster: ClusterRecord, receivedAtMillis: Int64) -> IngestRecord {
        var rows = [UsageRow]()
        rows.reserveCapacity(batch.containers.count * 2)
        // Which rows (and volume claims) belong to which minute, in order of first appearance.
        var minutes = [Int64: [(row: Int, volumes: [VolumeClaim])]]()
        let tickMillis = Int64(batch.tickMillis)
        let classes = NetworkClass.allCases

        for c in batch.containers {
            let key = ContainerKey(
                cluster: cluster.name, node: batch.node.name, namespace: c.identity.namespace,
                pod: c.identity.pod, container: c.identity.container
            )
            let networkColumns = classes.map { c.networkEgressBytes[$0] }
            let claimedBytes = c.identity.volumes.reduce(Int128(0)) { $0 + Int128($1.requestBytes) }
            var i = 0
            while i < c.tickCount {
                let tickStart = batch.windowStartUnixMillis + Int64(c.firstTick + i) * tickMillis
                let minute = floorDiv(tickStart, 60_000) * 60_000
                // Ticks of this container that start in the same minute.
                var cpu: Int64 = 0
                var memoryByteMillis: Int128 = 0
                var network = NetworkClass.zeros
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
                    sampledMillis: sampledMillis,
                    gpuRequestMillis: Int64(c.identity.gpuRequest) * sampledMillis,
                    storageRequestByteSeconds: Int64(clamping: Int128.scaled(claimedBytes * Int128(sampledMillis), by: 1, over: 1_000))
                )
                minutes[minute, default: []].append((rows.count, c.identity.volumes))
                rows.append(UsageRow(key: key, labels: c.identity.labels, startMillis: minute, usage: usage, cost: .zero))
            }
        }

        // How long the batch observed the node in each minute (containers or not).
        var observed = [Int64: Int64]()
        for t in 0..<batch.tickCount {
            let minute = floorDiv(batch.windowStartUnixMillis + Int64(t) * tickMillis, 60_000) * 60_000
            observed[minute, default: 0] += tickMillis
        }

        var nodeMinutes = [NodeMinuteRecord]()
        nodeMinutes.reserveCapacity(observed.count)
        for (minute, observedMillis) in observed.sorted(by: { $0.key < $1.key }) {
            let rates = books(minute).rates(cloud: cluster.cloud, region: cluster.region, node: batch.node)
            var allocated = [Cost]()
            for (index, volumes) in minutes[minute] ?? [] {
                rows[index].cost = Allocation.cost(of: rows[index].usage, volumes: volumes, at: rates)
                allocated.append(rows[index].cost)
            }
            let idle = Allocation.idle(observedMillis: observedMillis, allocated: allocated, at: rates)
            if idle != .zero {
                rows.append(Self.idleRow(cluster: cluster.name, node: batch.node.name, minute: minute, cost: idle))
            }
            nodeMinutes.append(NodeMinuteRecord(
                cluster: cluster.name, startMillis: minute, node: batch.node, observedMillis: observedMillis, priceVersion: rates.priceVersion
            ))
        }
        return IngestRecord(
            cluster: cluster.name, agentInstanceID: batch.agentInstanceID, sequence: batch.sequence,
            node: batch.node.name, receivedAtMillis: receivedAtMillis, windowStartMillis: batch.windowStartUnixMillis,
            windowEndMillis: batch.windowEndUnixMillis, sampleCount: batch.sampleCount,
            droppedTicks: batch.droppedTicks, droppedBatches: batch.droppedBatches, rows: rows, nodeMinutes: nodeMinutes
        )
    }

    /// The rows of one stored node-minute priced again with `book`: CPU, RAM, GPU and network
    /// from the stored usage, storage kept as it was (the rows do not keep the claims' storage
    /// classes), and the idle row recomputed so that allocated + idle = node cost again.
    public static func reprice(_ minute: NodeMinuteRecord, rows: [UsageRow], cluster: ClusterRecord, book: any PriceBook) -> [UsageRow] {
        let rates = book.rates(cloud: cluster.cloud, region: cluster.region, node: minute.node)
        var out = [UsageRow]()
        var allocated = [Cost]()
        for var row in rows where row.key.namespace != IdleIdentity.name {
            let storage = row.cost.storage
            row.cost = Allocation.cost(of: row.usage, at: rates)
            row.cost.storage = storage
            allocated.append(row.cost)
            out.append(row)
        }
        out.append(idleRow(
            cluster: minute.cluster, node: minute.node.name, minute: minute.startMillis,
            cost: Allocation.idle(observedMillis: minute.observedMillis, allocated: allocated, at: rates)
        ))
        return out
    }

    static func idleRow(cluster: String, node: String, minute: Int64, cost: Cost) -> UsageRow {
        let name = IdleIdentity.name
        return UsageRow(
            key: ContainerKey(cluster: cluster, node: node, namespace: name, pod: name, container: name),
            labels: [:], startMillis: minute, usage: .zero, cost: cost
        )
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
