import KubeHeroCore

/// Realistic, reproducible batches for load tests and benchmarks: a node of `containers`
/// containers spread over namespaces, each with its own CPU and memory profile, and a little
/// egress. The same seed gives the same batches.
public struct SyntheticNode: Sendable {
    public var node: NodeInfo
    public var agentInstanceID: String
    public var containers: [ContainerIdentity]
    public var tickMillis: UInt32
    public var ticksPerBatch: Int
    private var seed: UInt64

    public init(
        index: Int, containers count: Int, ticksPerBatch: Int = 60, tickMillis: UInt32 = 1000,
        namespaces: [String] = ["payments", "search", "checkout", "ml-training", "web", "batch", "monitoring", "kube-system"],
        seed: UInt64 = 42
    ) {
        self.seed = seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        node = NodeInfo(
            name: "node-\(index)", instanceType: "m5.2xlarge", region: "us-east-1", zone: "us-east-1a",
            capacityType: .onDemand, cpuCapacityMillicores: 8000, memoryCapacityBytes: 32 << 30
        )
        agentInstanceID = "bench-agent-\(index)"
        var rng = SplitMix64(seed: self.seed)
        containers = (0..<count).map { i in
            let ns = namespaces[i % namespaces.count]
            return ContainerIdentity(
                namespace: ns, pod: "\(ns)-\(i / 2)-\(String(rng.next() % 100_000, radix: 36))", container: i % 2 == 0 ? "app" : "sidecar",
                podUID: "uid-\(index)-\(i)", labels: ["app": "\(ns)-svc", "team": i % 3 == 0 ? "ml" : "core"],
                ownerKind: "ReplicaSet", ownerName: "\(ns)-rs",
                cpuRequestMillicores: UInt32(50 + rng.next() % 450), memoryRequestBytes: (64 + rng.next() % 448) << 20
            )
        }
        self.tickMillis = tickMillis
        self.ticksPerBatch = ticksPerBatch
    }

    /// Batch number `sequence` (from 1), covering the ticks starting at
    /// `firstWindowStartMillis + (sequence - 1) * ticksPerBatch * tickMillis`.
    public func batch(sequence: UInt64, firstWindowStartMillis: Int64) -> UsageBatch {
        var rng = SplitMix64(seed: seed ^ (sequence &* 0xD1B5_4A32_D192_ED03))
        let span = Int64(ticksPerBatch) * Int64(tickMillis)
        let samples = containers.enumerated().map { i, identity in
            let cpuBase = UInt64(10_000_000 + (i % 7) * 30_000_000) * UInt64(tickMillis) / 1000
            let memBase = UInt64(80 + (i % 11) * 40) << 20
            var cpu = [UInt64]()
            var mem = [UInt64]()
            var net = [UInt64]()
            cpu.reserveCapacity(ticksPerBatch)
            mem.reserveCapacity(ticksPerBatch)
            for _ in 0..<ticksPerBatch {
                cpu.append(cpuBase / 2 + rng.next() % cpuBase)
                mem.append(memBase + (rng.next() % 4) << 20)
                net.append(i % 4 == 0 ? rng.next() % 200_000 : 0)
            }
            return ContainerSamples(
                cgroupID: UInt64(10_000 + i), identity: identity, cpuNanos: cpu, memoryWorkingSetBytes: mem,
                networkEgressBytes: i % 4 == 0 ? [.crossZone: net] : [:]
            )
        }
        return UsageBatch(
            agentInstanceID: agentInstanceID, sequence: sequence, node: node,
            windowStartUnixMillis: firstWindowStartMillis + Int64(sequence - 1) * span, tickMillis: tickMillis,
            tickCount: ticksPerBatch, containers: samples
        )
    }
}
