@testable import KubeHeroAgent
import KubeHeroCore
import Testing

/// Cumulative counters in, per-tick columns out: no double counting, no negative deltas.
@Suite("Batch builder")
struct BatchBuilderTests {
    static let t0: Int64 = 1_795_003_200_000 // on the minute
    static func name(_ id: UInt64) -> ContainerIdentity { ContainerIdentity(namespace: "ns", pod: "p\(id)", container: "c") }
    static let node = NodeInfo(name: "n")

    func reading(_ id: UInt64, cpu: UInt64, mem: UInt64 = 100) -> CgroupReading {
        CgroupReading(cgroupID: id, cpuUsageNanos: cpu, memoryWorkingSetBytes: mem)
    }

    func close(_ b: inout BatchBuilder, at t: Int64) -> UsageBatch? {
        b.close(endMillis: t, agentInstanceID: "a", sequence: 1, node: Self.node, source: .cgroupfs)
    }

    @Test("containers running at start give a baseline, then per-tick differences")
    func baselineThenDeltas() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        b.record([reading(1, cpu: 5_000_000_000)], atMillis: Self.t0, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 5_300_000_000, mem: 200)], atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 5_800_000_000, mem: 300)], atMillis: Self.t0 + 2000, identities: Self.name, newContainers: [])
        let batch = try #require(close(&b, at: Self.t0 + 2000))
        #expect(batch.windowStartUnixMillis == Self.t0 - 1000)
        #expect(batch.containers.count == 1)
        #expect(batch.containers[0].firstTick == 1)
        #expect(batch.containers[0].cpuNanos == [300_000_000, 500_000_000])
        #expect(batch.containers[0].memoryWorkingSetBytes == [200, 300])
        try batch.validate()
    }

    @Test("a container that appears later counts its whole counter once")
    func newContainerCountedInFull() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        b.record([reading(1, cpu: 1_000)], atMillis: Self.t0, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 2_000), reading(2, cpu: 700)], atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [2])
        b.record([reading(1, cpu: 3_000), reading(2, cpu: 900)], atMillis: Self.t0 + 2000, identities: Self.name, newContainers: [])
        let batch = try #require(close(&b, at: Self.t0 + 2000))
        let c2 = try #require(batch.containers.first { $0.cgroupID == 2 })
        #expect(c2.cpuNanos == [700, 200])
    }

    @Test("a counter that goes backwards restarts from zero instead of going negative")
    func counterReset() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        b.record([reading(1, cpu: 10_000)], atMillis: Self.t0, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 400)], atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [])
        let batch = try #require(close(&b, at: Self.t0 + 1000))
        #expect(batch.containers[0].cpuNanos == [400])
    }

    @Test("an exited container is counted up to its last reading; a missed read keeps columns contiguous")
    func exitAndGap() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        b.record([reading(1, cpu: 0), reading(2, cpu: 0)], atMillis: Self.t0, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 100), reading(2, cpu: 100)], atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 200)], atMillis: Self.t0 + 2000, identities: Self.name, newContainers: []) // 2 missed
        b.record([reading(1, cpu: 300), reading(2, cpu: 350)], atMillis: Self.t0 + 3000, identities: Self.name, newContainers: [])
        b.record([reading(2, cpu: 400)], atMillis: Self.t0 + 4000, identities: Self.name, newContainers: []) // 1 exited
        let batch = try #require(close(&b, at: Self.t0 + 4000))
        let c1 = try #require(batch.containers.first { $0.cgroupID == 1 })
        let c2 = try #require(batch.containers.first { $0.cgroupID == 2 })
        #expect(c1.cpuNanos == [100, 100, 100])
        #expect(c2.cpuNanos == [100, 0, 250, 50])
        #expect(c1.cpuNanos.reduce(0, +) == 300 && c2.cpuNanos.reduce(0, +) == 400)
        try batch.validate()
    }

    @Test("closing starts the next batch where the last ended, and an empty batch is not sent")
    func consecutiveBatches() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 2)
        b.record([reading(1, cpu: 0)], atMillis: Self.t0, identities: Self.name, newContainers: [])
        #expect(close(&b, at: Self.t0) == nil)
        b.record([reading(1, cpu: 10)], atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [])
        b.record([reading(1, cpu: 30)], atMillis: Self.t0 + 2000, identities: Self.name, newContainers: [])
        #expect(b.isFull(atMillis: Self.t0 + 2000))
        let first = try #require(close(&b, at: Self.t0 + 2000))
        #expect(first.windowStartUnixMillis == Self.t0 && first.tickCount == 2)
        b.record([reading(1, cpu: 60)], atMillis: Self.t0 + 3000, identities: Self.name, newContainers: [])
        let second = try #require(close(&b, at: Self.t0 + 3000))
        #expect(second.windowStartUnixMillis == Self.t0 + 2000)
        #expect(second.containers[0].firstTick == 0 && second.containers[0].cpuNanos == [30])
    }
}
