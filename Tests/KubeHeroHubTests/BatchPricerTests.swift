import KubeHeroTestSupport
import KubeHeroCore
@testable import KubeHeroHub
import KubeHeroPricing
import KubeHeroStore
import Testing

@Suite("Batch pricing")
struct BatchPricerTests {
    static let rates = NodeRates(
        cpuCoreHour: Money(nanoUSD: 3_600_000_000), ramGiBHour: Money(nanoUSD: 3_600_000_000),
        egressPerGiB: NetworkClass.zeros.map(Money.init(nanoUSD:)), source: .defaultRateCard(reason: "test")
    )

    struct FixedBook: PriceBook {
        func rates(cloud: Cloud, region: String, node: NodeInfo) -> NodeRates { BatchPricerTests.rates }
    }

    static let cluster = ClusterRecord(name: "c1", cloud: .aws, region: "us-east-1", labels: [:], createdAtMillis: 0)

    @Test("ticks are attributed to the minute they start in, across a batch boundary")
    func minuteAttribution() {
        // 4 ticks of 30 s starting at 00:00:30: ticks at :30, 1:00, 1:30, 2:00.
        let start: Int64 = 1_795_000_020_000 // 2026-11-18T11:07:00Z
        let batch = UsageBatch(
            agentInstanceID: "a", sequence: 1, node: NodeInfo(name: "n"), windowStartUnixMillis: start + 30_000,
            tickMillis: 30_000, tickCount: 4,
            containers: [ContainerSamples(
                cgroupID: 1, identity: ContainerIdentity(namespace: "ns", pod: "p", container: "c", cpuRequestMillicores: 1000, memoryRequestBytes: 0),
                cpuNanos: [1_000_000_000, 2_000_000_000, 3_000_000_000, 4_000_000_000], memoryWorkingSetBytes: [1 << 30, 1 << 30, 2 << 30, 2 << 30]
            )]
        )
        let record = BatchPricer(priceBook: FixedBook()).record(for: batch, cluster: Self.cluster, receivedAtMillis: 0)
        #expect(record.rows.map(\.startMillis) == [start, start + 60_000, start + 120_000])
        #expect(record.rows.map(\.usage.cpuCoreNanos) == [1_000_000_000, 5_000_000_000, 4_000_000_000])
        #expect(record.rows.map(\.usage.sampledMillis) == [30_000, 60_000, 30_000])
        // Request 1 core over the sampled time: 30 s, 60 s, 30 s.
        #expect(record.rows.map(\.usage.cpuRequestCoreNanos) == [30_000_000_000, 60_000_000_000, 30_000_000_000])
        #expect(record.rows.map(\.usage.memoryByteSeconds) == [30 << 30, 90 << 30, 60 << 30])
        // CPU at max(request, usage) at 1,000,000 nano-USD per core-second: 30 s, 60 s, 30 s of request.
        #expect(record.rows.map(\.cost.cpu.nanoUSD) == [30_000_000, 60_000_000, 30_000_000])
        #expect(record.sampleCount == 4)
        #expect(record.cluster == "c1" && record.node == "n")
    }

    @Test("a container that started mid-batch is priced only for its ticks")
    func partialContainer() {
        let start: Int64 = 1_795_000_020_000
        let batch = UsageBatch(
            agentInstanceID: "a", sequence: 1, node: NodeInfo(name: "n"), windowStartUnixMillis: start, tickMillis: 1000, tickCount: 60,
            containers: [ContainerSamples(
                cgroupID: 1, identity: ContainerIdentity(namespace: "ns", pod: "p", container: "c", cpuRequestMillicores: 500),
                firstTick: 50, cpuNanos: Array(repeating: 0, count: 10), memoryWorkingSetBytes: Array(repeating: 0, count: 10)
            )]
        )
        let record = BatchPricer(priceBook: FixedBook()).record(for: batch, cluster: Self.cluster, receivedAtMillis: 0)
        #expect(record.rows.count == 1)
        #expect(record.rows[0].usage.sampledMillis == 10_000)
        #expect(record.rows[0].cost.cpu.nanoUSD == 5_000_000) // 0.5 core x 10 s
    }
}

@Suite("Cost query parameters")
struct CostQueryParameterTests {
    static let now: Int64 = 1_795_000_030_000 // 2026-11-18T11:07:10Z

    func parse(_ q: [String: String]) throws -> CostQueryParameters {
        try CostQueryParameters.parse(q, allowed: CostQueryParameters.costKeys, defaultAggregate: "namespace", nowMillis: Self.now, minuteRetentionMillis: 14 * 86_400_000)
    }

    @Test("short windows end at the next minute and read minute rows")
    func shortWindow() throws {
        let p = try parse(["window": "1h"])
        #expect(p.range.endUnixMillis == 1_795_000_080_000)
        #expect(p.range.endUnixMillis - p.range.startUnixMillis == 3_600_000)
        #expect(p.resolution == .minute)
    }

    @Test("windows of two days or more end on the hour and read hourly rollups")
    func longWindow() throws {
        let p = try parse(["window": "7d", "step": "1d"])
        #expect(p.range.endUnixMillis % 3_600_000 == 0)
        #expect(p.resolution == .hour)
        #expect(p.steps.count == 7)
    }

    @Test("explicit ranges keep their bounds; unaligned ones read minutes")
    func explicitRange() throws {
        let p = try parse(["window": "2026-11-18T10:30:00Z,2026-11-18T11:00:00Z"])
        #expect(p.range.endUnixMillis - p.range.startUnixMillis == 1_800_000)
        #expect(p.resolution == .minute)
    }

    @Test("too many steps are refused")
    func tooManySteps() {
        #expect(throws: ValidationError.self) { try parse(["window": "30d", "step": "1m"]) }
    }
}
