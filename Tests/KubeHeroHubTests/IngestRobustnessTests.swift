import KubeHeroTestSupport
import Foundation
import GRPCCore
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroIngestClient
import KubeHeroWire
import SwiftProtobuf
import Testing

/// Bad batches get a clear answer and change nothing; good ones are counted exactly once.
@Suite("Ingest robustness")
struct IngestRobustnessTests {
    static func totalNano(_ hub: TestHub) async throws -> Int64 {
        let costs = try await hub.withClient { try await $0.costs(.init(window: "24h", aggregate: "cluster")) }
        return costs.steps[0].groups.reduce(0) { $0 + $1.totalCostNanoUSD }
    }

    @Test("a re-sent batch is acknowledged again and counted once")
    func resentBatchCountedOnce() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            let batch = minuteBatch(sequence: 7, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
            let first = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { try await $0.sendAndWait(batch) }
            let once = try await Self.totalNano(hub)
            // The agent did not see the ack (say the connection dropped) and resends on a new stream.
            let second = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { try await $0.sendAndWait(batch) }
            #expect(first == .ack(agentInstanceID: "agent-1", sequence: 7, duplicate: false))
            #expect(second == .ack(agentInstanceID: "agent-1", sequence: 7, duplicate: true))
            #expect(try await Self.totalNano(hub) == once)
        }
    }

    @Test("an invalid batch is rejected naming the field, stores nothing, and the stream goes on")
    func invalidBatchRejected() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            var bad = minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
            bad.containers[1].memoryWorkingSetBytes.removeLast()
            let good = minuteBatch(sequence: 2, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
            let (r1, r2) = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { [bad] stream in
                (try await stream.sendAndWait(bad), try await stream.sendAndWait(good))
            }
            guard case .reject(_, 1, let field, let reason) = r1 else {
                Issue.record("expected a reject, got \(r1)")
                return
            }
            #expect(field == "containers[1].memoryWorkingSetDelta" || field == "containers[1].memoryWorkingSetBytes")
            #expect(reason.contains("59"))
            #expect(r2 == .ack(agentInstanceID: "agent-1", sequence: 2, duplicate: false))
            // The node's minute (allocated + idle) plus egress: the bad batch added nothing.
            #expect(try await Self.totalNano(hub) == EndToEndTests.nodeMinuteNano + Self.egressNano(EndToEndTests.twoContainers()))
        }
    }

    /// Egress cost of the containers' cross-zone columns at $0.01/GiB.
    static func egressNano(_ containers: [ContainerSamples]) -> Int64 {
        let bytes = containers.reduce(Int64(0)) { $0 + Int64($1.networkEgressBytes[.crossZone]?.reduce(0, +) ?? 0) }
        let product = Int128(bytes) * 10_000_000
        let q = product / 1_073_741_824, r = product % 1_073_741_824
        return Int64(r * 2 >= 1_073_741_824 ? q + 1 : q)
    }

    @Test("batches with impossible values are rejected", arguments: [
        ("tickMillis", { @Sendable (b: inout UsageBatch) in b.tickMillis = 5 }),
        ("windowStartUnixMillis", { @Sendable (b: inout UsageBatch) in b.windowStartUnixMillis = 1_700_000_000 }),
        ("containers[0].namespace", { @Sendable (b: inout UsageBatch) in b.containers[0].identity.namespace = "" }),
        ("containers[0].cpuNanos[3]", { @Sendable (b: inout UsageBatch) in b.containers[0].cpuNanos[3] = UInt64.max / 2 }),
        ("containers[1].cgroupID", { @Sendable (b: inout UsageBatch) in b.containers[1].cgroupID = b.containers[0].cgroupID }),
        ("containers[0].labels[bad key!]", { @Sendable (b: inout UsageBatch) in b.containers[0].identity.labels["bad key!"] = "x" }),
        ("agentInstanceID", { @Sendable (b: inout UsageBatch) in b.agentInstanceID = "" }),
        // Older than the 14-day minute retention: its key may already be forgotten.
        ("windowStartUnixMillis", { @Sendable (b: inout UsageBatch) in b.windowStartUnixMillis -= 20 * 86_400_000 }),
        // A node whose clock runs a day ahead.
        ("windowStartUnixMillis", { @Sendable (b: inout UsageBatch) in b.windowStartUnixMillis += 86_400_000 }),
    ] as [(String, @Sendable (inout UsageBatch) -> Void)])
    func impossibleValues(field: String, mutate: @Sendable (inout UsageBatch) -> Void) async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            var batch = minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
            mutate(&batch)
            let reply = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { [batch] in try await $0.sendAndWait(batch) }
            guard case .reject(_, _, let got, _) = reply else {
                Issue.record("expected a reject naming \(field), got \(reply)")
                return
            }
            #expect(got == field)
            #expect(try await Self.totalNano(hub) == 0)
        }
    }

    @Test("a message over the size limit ends the stream and stores nothing; the hub serves on")
    func oversizedMessage() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            var message = WireAgentMessage()
            message.batch = WireUsageBatch(minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers()))
            message.batch.containers[0].podUid = String(repeating: "x", count: wireMaxMessageBytes + 1)
            let error: (any Error)? = await {
                do {
                    try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { [message] stream in
                        stream.send(raw: message)
                        for try await _ in stream.replies {}
                    }
                    return nil
                } catch {
                    return error
                }
            }()
            // grpc-swift-nio-transport resets the stream (RST_STREAM) rather than sending a
            // resourceExhausted status, so the client sees the stream end with an error.
            let rpc = try #require(error as? RPCError)
            #expect([.resourceExhausted, .unavailable, .cancelled].contains(rpc.code), "\(rpc)")
            #expect(try await Self.totalNano(hub) == 0)
            // The hub is fine afterwards.
            let reply = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) {
                try await $0.sendAndWait(minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers()))
            }
            #expect(reply == .ack(agentInstanceID: "agent-1", sequence: 1, duplicate: false))
        }
    }

    @Test("a negative working set in the delta column is rejected")
    func negativeMemoryDelta() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            var message = WireAgentMessage()
            message.batch = WireUsageBatch(minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers()))
            message.batch.containers[0].memoryWorkingSetDelta[1] = -(3 << 30)
            let reply = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { [message] stream -> IngestReply? in
                stream.send(raw: message)
                for try await reply in stream.replies { return reply }
                return nil
            }
            guard case .reject(_, 1, let field, let reason) = reply else {
                Issue.record("expected a reject, got \(String(describing: reply))")
                return
            }
            #expect(field == "containers[0].memoryWorkingSetDelta[1]")
            #expect(reason.contains("negative"))
        }
    }

    @Test("the metrics endpoint counts committed, duplicate and rejected batches")
    func metricsCount() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            var bad = minuteBatch(sequence: 2, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
            bad.tickMillis = 1
            let good = minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
            try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { [bad] stream in
                _ = try await stream.sendAndWait(good)
                _ = try await stream.sendAndWait(good)
                _ = try await stream.sendAndWait(bad)
            }
            let text = hub.hub.services.metrics.render(connectedAgents: [:], lastBatchAgeSeconds: [:])
            #expect(text.contains("kubehero_ingest_batches_total{result=\"committed\"} 1"))
            #expect(text.contains("kubehero_ingest_batches_total{result=\"duplicate\"} 1"))
            #expect(text.contains("kubehero_ingest_batches_total{result=\"rejected\"} 1"))
            #expect(text.contains("kubehero_ingest_samples_total 120"))
        }
    }
}
