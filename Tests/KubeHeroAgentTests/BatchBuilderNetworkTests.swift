@testable import KubeHeroAgent
import KubeHeroCore
import Testing

/// Cumulative egress bytes by class (eBPF readings) in, per-tick class columns out.
@Suite("Batch builder: network bytes by class")
struct BatchBuilderNetworkTests {
    static let t0: Int64 = 1_795_003_200_000
    static func name(_ id: UInt64) -> ContainerIdentity { ContainerIdentity(namespace: "ns", pod: "p\(id)", container: "c") }

    static func reading(_ id: UInt64, cpu: UInt64, _ bytes: [NetworkClass: UInt64]?) -> CgroupReading {
        var network: NetworkBytes?
        if let bytes {
            var n = NetworkBytes()
            for (c, v) in bytes { n[c] = v }
            network = n
        }
        return CgroupReading(cgroupID: id, cpuUsageNanos: cpu, memoryWorkingSetBytes: 1, networkEgressBytes: network)
    }

    static func close(_ b: inout BatchBuilder, at t: Int64) -> UsageBatch? {
        b.close(endMillis: t, agentInstanceID: "a", sequence: 1, node: NodeInfo(name: "n"), source: .ebpf)
    }

    @Test("per-tick differences per class; a class gets a column from its first traffic, padded to the batch")
    func differencesPerClass() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        let ticks: [[NetworkClass: UInt64]] = [
            [.sameNode: 1_000],                             // baseline
            [.sameNode: 1_500],
            [.sameNode: 1_500, .crossZone: 300],
            [.sameNode: 2_000, .crossZone: 300, .internet: 9],
        ]
        for (i, bytes) in ticks.enumerated() {
            b.record([Self.reading(1, cpu: UInt64(i) * 10, bytes)], atMillis: Self.t0 + Int64(i) * 1000, identities: Self.name, newContainers: [])
        }
        let batch = try #require(Self.close(&b, at: Self.t0 + 3000))
        let c = try #require(batch.containers.first)
        #expect(c.cpuNanos == [10, 10, 10])
        #expect(c.networkEgressBytes[.sameNode] == [500, 0, 500])
        #expect(c.networkEgressBytes[.crossZone] == [0, 300, 0])
        #expect(c.networkEgressBytes[.internet] == [0, 0, 9])
        #expect(c.networkEgressBytes[.sameZone] == nil, "no traffic, no column")
        try batch.validate()
    }

    @Test("a new container counts its bytes in full; a counter reset restarts from zero; the first reading with bytes is a baseline")
    func newResetAndBaseline() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        b.record([Self.reading(1, cpu: 0, nil)], atMillis: Self.t0, identities: Self.name, newContainers: [])
        b.record(
            [Self.reading(1, cpu: 5, [.internet: 70_000]), Self.reading(2, cpu: 5, [.sameZone: 4_000])],
            atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [2])
        b.record(
            [Self.reading(1, cpu: 9, [.internet: 70_100]), Self.reading(2, cpu: 9, [.sameZone: 100])],
            atMillis: Self.t0 + 2000, identities: Self.name, newContainers: [])
        let batch = try #require(Self.close(&b, at: Self.t0 + 2000))
        let c1 = try #require(batch.containers.first { $0.cgroupID == 1 })
        let c2 = try #require(batch.containers.first { $0.cgroupID == 2 })
        #expect(c1.networkEgressBytes[.internet] == [0, 100], "bytes before the first eBPF reading are not this batch's")
        #expect(c2.networkEgressBytes[.sameZone] == [4_000, 100], "new container in full, then a reset counts from zero")
        #expect(batch.source == .ebpf)
        try batch.validate()
    }

    @Test("a tick without network bytes (the maps could not be read) is zero, and the next tick covers it")
    func missingReadingIsCaughtUp() throws {
        var b = BatchBuilder(tickMillis: 1000, ticksPerBatch: 60)
        b.record([Self.reading(1, cpu: 0, [.crossZone: 100])], atMillis: Self.t0, identities: Self.name, newContainers: [])
        b.record([Self.reading(1, cpu: 1, [.crossZone: 150])], atMillis: Self.t0 + 1000, identities: Self.name, newContainers: [])
        b.record([Self.reading(1, cpu: 1, nil)], atMillis: Self.t0 + 2000, identities: Self.name, newContainers: [])
        b.record([Self.reading(1, cpu: 2, [.crossZone: 400])], atMillis: Self.t0 + 3000, identities: Self.name, newContainers: [])
        let batch = try #require(Self.close(&b, at: Self.t0 + 3000))
        let c = try #require(batch.containers.first)
        #expect(c.networkEgressBytes[.crossZone] == [50, 0, 250])
        try batch.validate()
    }
}
