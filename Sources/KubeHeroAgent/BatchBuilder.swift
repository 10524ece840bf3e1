import KubeHeroCore

/// Turns cumulative cgroup counters, read once per tick, into the per-tick columns of a batch.
/// Pure and single-threaded: the tick loop owns one.
///
/// CPU is a cumulative counter, so each tick's value is a difference:
/// - a container already running when the agent started gives a baseline on its first reading
///   and no sample (its earlier CPU belongs to time before the agent);
/// - a container that appears later started since the previous discovery, so its whole counter
///   is usage within this window and counts in full;
/// - a counter that goes backwards (a recreated cgroup reusing an id) restarts from zero, never
///   a negative delta;
/// - a container missing for a tick gets a zero CPU tick and its last working set, so its columns
///   stay contiguous; a container that exited simply stops: it is counted up to its last reading.
///
/// Egress bytes by class (eBPF readings) are cumulative too and follow the same rules; a class
/// gets a column once it has traffic.
public struct BatchBuilder: Sendable {
    struct Series: Sendable {
        var identity: ContainerIdentity
        var firstTick: Int
        var cpu: [UInt64] = []
        var memory: [UInt64] = []
        var network: [NetworkClass: [UInt64]] = [:]
    }

    struct Counter: Sendable {
        var cpuNanos: UInt64
        var lastMemory: UInt64
        var lastTick: Int64
        var network: NetworkBytes?
    }

    public let tickMillis: UInt32
    public let ticksPerBatch: Int
    /// Start of tick 0 of the open batch; nil until the first reading.
    public private(set) var windowStartMillis: Int64?
    private var series: [UInt64: Series] = [:]
    private var order: [UInt64] = []
    private var counters: [UInt64: Counter] = [:]
    private var baselineTaken = false

    public init(tickMillis: UInt32, ticksPerBatch: Int) {
        self.tickMillis = tickMillis
        self.ticksPerBatch = ticksPerBatch
    }

    /// Takes the readings made at `atMillis` (a tick boundary). The CPU used since the previous
    /// reading belongs to the tick that just ended, `[atMillis - tick, atMillis)`.
    /// `newContainers` are cgroups discovered since the previous discovery (counted in full).
    public mutating func record(
        _ readings: [CgroupReading], atMillis: Int64, identities: (UInt64) -> ContainerIdentity, newContainers: Set<UInt64>
    ) {
        let tick = Int64(tickMillis)
        let tickStart = atMillis - tick
        let first = !baselineTaken
        baselineTaken = true
        if windowStartMillis == nil { windowStartMillis = tickStart }
        let index = Int((tickStart - windowStartMillis!) / tick)

        for r in readings {
            let previous = counters[r.cgroupID]
            // A reading without network bytes (a tick the BPF maps could not be read) keeps the
            // last ones, so that the next reading's difference covers both ticks.
            counters[r.cgroupID] = Counter(
                cpuNanos: r.cpuUsageNanos, lastMemory: r.memoryWorkingSetBytes, lastTick: tickStart,
                network: r.networkEgressBytes ?? previous?.network)
            func difference(_ now: UInt64, _ before: UInt64) -> UInt64 { now >= before ? now - before : now }
            let delta: UInt64
            var network: NetworkBytes?
            if let previous {
                delta = difference(r.cpuUsageNanos, previous.cpuNanos)
                // A first network reading after readings without one is a baseline.
                if let now = r.networkEgressBytes, let before = previous.network {
                    var d = NetworkBytes()
                    for c in NetworkClass.allCases { d[c] = difference(now[c], before[c]) }
                    network = d
                }
            } else if !first && newContainers.contains(r.cgroupID) {
                delta = r.cpuUsageNanos
                network = r.networkEgressBytes
            } else {
                continue // baseline only
            }
            append(cgroupID: r.cgroupID, index: index, cpu: delta, memory: r.memoryWorkingSetBytes, network: network, identity: identities(r.cgroupID))
        }
        // Forget counters of containers gone for more than a batch, so memory stays bounded.
        let horizon = tickStart - tick * Int64(ticksPerBatch)
        counters = counters.filter { $0.value.lastTick >= horizon }
    }

    private mutating func append(cgroupID: UInt64, index: Int, cpu: UInt64, memory: UInt64, network: NetworkBytes?, identity: ContainerIdentity) {
        guard index >= 0 else { return }
        defer { if let network { appendNetwork(cgroupID: cgroupID, index: index, network) } }
        if var s = series[cgroupID] {
            // Fill ticks the container was not read in (a failed read), keeping columns contiguous.
            var next = s.firstTick + s.cpu.count
            while next < index {
                s.cpu.append(0)
                s.memory.append(s.memory.last ?? memory)
                next += 1
            }
            if next == index {
                s.cpu.append(cpu)
                s.memory.append(memory)
            }
            s.identity = identity
            series[cgroupID] = s
        } else {
            series[cgroupID] = Series(identity: identity, firstTick: index, cpu: [cpu], memory: [memory])
            order.append(cgroupID)
        }
    }

    /// Puts the tick's egress bytes at `index` of the container's class columns (its CPU column
    /// already has that tick); a class's column starts when it first has traffic.
    private mutating func appendNetwork(cgroupID: UInt64, index: Int, _ network: NetworkBytes) {
        guard var s = series[cgroupID], s.firstTick + s.cpu.count == index + 1 else { return }
        for c in NetworkClass.allCases where network[c] != 0 || s.network[c] != nil {
            var column = s.network[c] ?? []
            column.append(contentsOf: repeatElement(0, count: max(0, s.cpu.count - 1 - column.count)))
            column.append(network[c])
            s.network[c] = column
        }
        series[cgroupID] = s
    }

    /// Whether the open batch has reached its length at `atMillis`.
    public func isFull(atMillis: Int64) -> Bool {
        guard let start = windowStartMillis else { return false }
        return atMillis - start >= Int64(tickMillis) * Int64(ticksPerBatch)
    }

    /// Closes the open batch (nil if it has no samples) and starts the next one at `endMillis`.
    public mutating func close(
        endMillis: Int64, agentInstanceID: String, sequence: UInt64, node: NodeInfo, source: SampleSource,
        droppedTicks: UInt64 = 0, droppedBatches: UInt64 = 0
    ) -> UsageBatch? {
        defer {
            series = [:]
            order = []
            windowStartMillis = endMillis
        }
        guard let start = windowStartMillis, endMillis > start else { return nil }
        let tickCount = Int((endMillis - start + Int64(tickMillis) - 1) / Int64(tickMillis))
        let containers = order.compactMap { id -> ContainerSamples? in
            guard let s = series[id], !s.cpu.isEmpty, s.firstTick < tickCount else { return nil }
            let n = min(s.cpu.count, tickCount - s.firstTick)
            // Columns of classes that went quiet end early: pad them to the CPU column's length.
            let network = s.network.mapValues { Array($0.prefix(n)) + repeatElement(0, count: max(0, n - $0.count)) }
            return ContainerSamples(
                cgroupID: id, identity: s.identity, firstTick: s.firstTick,
                cpuNanos: Array(s.cpu.prefix(n)), memoryWorkingSetBytes: Array(s.memory.prefix(n)), networkEgressBytes: network
            )
        }
        if containers.isEmpty && droppedTicks == 0 && droppedBatches == 0 { return nil }
        return UsageBatch(
            agentInstanceID: agentInstanceID, sequence: sequence, node: node, windowStartUnixMillis: start,
            tickMillis: tickMillis, tickCount: max(tickCount, 1), containers: containers,
            droppedTicks: droppedTicks, droppedBatches: droppedBatches, source: source
        )
    }

    /// Container-samples in the open batch.
    public var openSamples: Int { series.values.reduce(0) { $0 + $1.cpu.count } }
}
