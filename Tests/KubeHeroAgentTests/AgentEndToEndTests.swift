import Foundation
import Glibc
@testable import KubeHeroAgent
import KubeHeroCore
import KubeHeroTestSupport
import KubeHeroWire
import SwiftProtobuf
import Testing

/// The node agent end to end: real cgroups on this machine with python processes burning CPU
/// and holding memory in them, `kubehero-agent run` as a separate process with the flags a
/// DaemonSet gives it (so flag parsing, logging set-up, SIGTERM handling and the drain on
/// shutdown are the production ones, and it can be killed with -9), and a real hub on loopback
/// (mTLS gRPC ingest, SQLite, REST API). What the hub stores is compared with what the kernel
/// counted for each cgroup.
///
/// How the comparisons are made exact. The agent reports CPU as differences between its own
/// readings of a cumulative counter: from its first reading of a container (a baseline; earlier
/// CPU is not its to report) to its last. The test cannot see when those readings happen, so it
/// makes the counter stand still around them: at the start the processes are stopped (SIGSTOP)
/// or not started yet (blocked on stdin, which the test waits for) while the agent takes its
/// baseline, and at the end each process leaves its cgroup and the agent gets two more ticks
/// before the cgroup goes. The cgroup's counter delta between the test's two readings is then
/// exactly what the agent must report; the only slack is the hub API's `cpuCoreHours` being a
/// Double (relative error ~1e-16) and microseconds a process may still run when the test reads
/// its counter. So CPU is checked to within `cpuSlackNanos` (1 ms): far below one tick of a
/// burner (>= 200 ms here), and far below the 2 % a comparison by interpolation would need.
@Suite(
    "Agent end to end: real cgroups, kubehero-agent processes, a hub on loopback",
    .serialized,
    .enabled(
        if: CgroupTestHost.v2 != nil && (CgroupTestHost.v2Controllers.contains("memory") || CgroupTestHost.v1Memory != nil)
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
        "needs root, a writable cgroup v2 mount with memory counters (v2 or v1), and /usr/bin/python3")
)
struct AgentEndToEndTests {
    /// See the suite's comment: what rounding and a stray microsecond can do, with room to spare.
    static let cpuSlackNanos = 1_000_000.0

    static func hubCPUNanos(_ group: CostGroupResult?) -> Double { (group?.cpuCoreHours ?? 0) * 3.6e12 }

    static func percent(_ measured: Double, _ expected: Double) -> String {
        expected == 0 ? "n/a" : String(format: "%+.4f%%", (measured - expected) / expected * 100)
    }

    /// Checks that the hub holds exactly `expected` CPU nanoseconds for each container, and prints
    /// the comparison.
    static func expectCPU(
        _ costs: [String: CostGroupResult], _ containers: [TestContainer], expected: [UInt64], test: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for (container, expected) in zip(containers, expected) {
            let group = costs.group(for: container)
            let hub = hubCPUNanos(group?.result)
            print(
                "\(test): \(group?.name ?? container.relative) CPU hub \(String(format: "%.6f", hub / 1e9)) s, cgroup \(String(format: "%.6f", Double(expected) / 1e9)) s, "
                    + "error \(percent(hub, Double(expected))) (\(String(format: "%.0f", hub - Double(expected))) ns)")
            #expect(group != nil, "the hub has no row for \(container.relative); it has \(costs.keys.sorted())", sourceLocation: sourceLocation)
            #expect(
                abs(hub - Double(expected)) <= cpuSlackNanos,
                "\(container.relative): hub \(hub) ns, cgroup counter delta \(expected) ns", sourceLocation: sourceLocation)
        }
    }

    // MARK: 1

    @Test("CPU and memory the hub stores equal the cgroups' own counters over the agent's span", .timeLimit(.minutes(3)))
    func accuracyAgainstCgroupCounters() async throws {
        try await AgentWorld.run { world in
            try await world.hub.serving {
                let api = try await world.container(pod: "payments", name: "api-1", running: Workload.burner(seconds: 300))
                let worker = try await world.container(pod: "payments", name: "worker-1", running: Workload.burner(seconds: 300, busyPercent: 40))
                let cache = try await world.container(pod: "cache", name: "redis-1", running: Workload.hog(mebibytes: 80))
                let all = [api, worker, cache]
                cache.start()
                #expect(cache.process.readLine() == "ready")

                // CPU burned before the agent's first reading is not the agent's to report: the
                // burners run for a second first, then stand still while it takes its baseline.
                api.start()
                worker.start()
                try await Task.sleep(for: .seconds(1))
                try await api.pause()
                try await worker.pause()
                let before = try all.map { try world.cpuNanos($0) }
                let agent = try world.startAgent(tickMillis: 500, flushMillis: 2000)
                try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                api.resume()
                worker.resume()

                var workingSets: [UInt64] = []
                let end = ContinuousClock.now + .seconds(8)
                while ContinuousClock.now < end {
                    workingSets.append(try world.workingSetBytes(cache))
                    try await Task.sleep(for: .milliseconds(250))
                }
                let finals = try await world.retire(all, agent: agent)
                let final = try await world.finish(agent)
                let ingest = world.hub.ingest
                let costs = try await world.hub.costsByContainer()
                print("accuracy: agent \(final); hub \(ingest)")

                // The baseline rule matters here: each burner had used CPU before the agent started.
                // (100 ms: on a loaded 2-core machine the burner may get well under its full share.)
                #expect(before[0] > 100_000_000, "the burner ran before the agent started")
                #expect(finals[0] - before[0] > 500_000_000, "the burner got a fair share of a CPU for 8 s (a loaded machine gives it less than a tenth)")
                #expect(costs.count == all.count && all.allSatisfy { costs.group(for: $0) != nil }, "one row per container: \(costs.keys.sorted())")
                Self.expectCPU(costs, all, expected: zip(finals, before).map { $0 - $1 }, test: "accuracy")

                // Every container was read at every tick: a baseline at the first, a sample after.
                #expect(ingest.samples == final.samples - all.count, "the hub holds every sample the agent took after its baselines")
                #expect(ingest.samples % all.count == 0)
                #expect(ingest.committed == final.batchesClosed && ingest.duplicates == 0 && ingest.rejected == 0)
                #expect(ingest.droppedTicks == final.missedTicks && final.dropped == 0)

                // Memory: byte-seconds are the working set at each sample times the tick. The
                // hog's working set stands still, so the agent's readings lie within the range of
                // the test's own (0.5 % of room for moments the test did not look at).
                let sampledSeconds = Double(ingest.samples / all.count) * Double(agent.tickMillis) / 1000
                let low = Double(workingSets.min() ?? 0), high = Double(workingSets.max() ?? 0)
                let mean = Double(workingSets.reduce(0, +)) / Double(max(workingSets.count, 1))
                let hubByteSeconds = (costs.group(for: cache)?.result.ramGiBHours ?? 0) * 3600 * Double(1 << 30)
                print(
                    "accuracy: \(cache.relative) working set \(String(format: "%.2f", mean / 1_048_576)) MiB (spread \(String(format: "%.3f", (high - low) / mean * 100))%), "
                        + "\(String(format: "%.1f", sampledSeconds)) s sampled: hub \(String(format: "%.0f", hubByteSeconds)) byte-s, "
                        + "expected \(String(format: "%.0f", mean * sampledSeconds)), error \(Self.percent(hubByteSeconds, mean * sampledSeconds))")
                #expect(mean >= 80 * 1_048_576, "the hog holds its 80 MiB")
                #expect((high - low) / mean < 0.01, "the working set is steady")
                #expect(hubByteSeconds >= low * sampledSeconds * 0.995 && hubByteSeconds <= high * sampledSeconds * 1.005)
                #expect(abs(hubByteSeconds - mean * sampledSeconds) / (mean * sampledSeconds) < 0.02)
            }
        }
    }

    // MARK: 2, 3

    /// Runs two burners through a hub outage of `outageBatches` flush intervals; afterwards the
    /// hub must hold every sample exactly once.
    func throughHubOutage(test: String, flushMillis: Int, spool: Bool, bufferBatches: Int?, outageBatches: Int) async throws {
        try await AgentWorld.run { world in
            let api = try await world.container(pod: "payments", name: "api-1", running: Workload.burner(seconds: 300))
            let worker = try await world.container(pod: "payments", name: "worker-1", running: Workload.burner(seconds: 300, busyPercent: 40))
            let all = [api, worker]
            let before = try all.map { try world.cpuNanos($0) }
            let agent = try await world.hub.serving {
                let agent = try world.startAgent(tickMillis: 500, flushMillis: flushMillis, spool: spool, bufferBatches: bufferBatches)
                try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                for container in all { container.start() }
                try await agent.wait(for: "two batches acknowledged") { $0.acknowledged >= 2 }
                return agent
            }
            // The hub is down: batches pile up in the agent.
            let outage = try await agent.wait(for: "\(outageBatches) batches waiting while the hub is down") { $0.queued >= outageBatches }
            print("\(test): during the outage: \(outage)")
            #expect(outage.dropped == 0)

            try await world.hub.serving {
                let finals = try await world.retire(all, agent: agent)
                let closed = try await world.closeLastBatch(agent)
                // The agent reconnects after its backoff (jittered, capped at 30 s) and re-sends
                // what is unacknowledged. A storm of sends is the reconnect loop the shipper had:
                // a session that ended once finished the wake-up stream every later session
                // waited on, so each returned at once and re-sent everything without waiting
                // for an acknowledgement (dozens of sends per batch each second).
                let storm = 50 * closed.batchesClosed
                let final = try await agent.wait(for: "every batch delivered and acknowledged", timeout: .seconds(45)) {
                    ($0.queued == 0 && world.hub.ingest.committed >= closed.batchesClosed) || $0.sent > storm
                }
                #expect(final.sent <= storm, "\(final.sent) sends for \(final.batchesClosed) batches: re-sent without waiting for acknowledgements")
                #expect(final.queued == 0, "\(final.queued) batches never acknowledged")
                try await world.stop(agent)
                let ingest = world.hub.ingest
                let costs = try await world.hub.costsByContainer()
                print("\(test): agent \(final); hub \(ingest)")
                Self.expectCPU(costs, all, expected: zip(finals, before).map { $0 - $1 }, test: test)
                #expect(ingest.samples == final.samples - all.count, "the hub holds every sample the agent took after its baselines, once")
                #expect(ingest.committed == final.batchesClosed, "every batch committed once (re-sent ones acknowledged as duplicates)")
                #expect(ingest.rejected == 0 && final.dropped == 0 && final.rejected == 0)
                #expect(ingest.droppedTicks == final.missedTicks, "the only gaps reported are ticks the agent missed itself")
            }
        }
    }

    @Test("the node's Node object reaches pricing: the price annotation, instance type and capacity type", .timeLimit(.minutes(3)))
    func nodeObjectReachesPricing() async throws {
        try await MetadataKubernetesAPITests.withFakeAPIServer(nodeName: AgentWorld.nodeName) { api, _ in
            try await AgentWorld.run { world in
                try await world.hub.serving {
                    let idle = try await world.container(pod: "web", name: "app", running: Workload.hog(mebibytes: 8))
                    idle.start()
                    let agent = try world.startAgent(extraArguments: [
                        "--kube-api", api.baseURL, "--kube-api-token-file", api.tokenFile ?? "", "--kube-api-ca-file", api.caFile ?? "",
                    ])
                    try await agent.wait(for: "two batches acknowledged") { $0.acknowledged >= 2 }
                    let rates = try await world.hub.rates(cluster: "e2e", node: AgentWorld.nodeName)
                    #expect(rates.source == "annotation", "\(rates.sourceDetail)")
                    #expect(rates.nodeHourlyUSD == "0.0712")
                    #expect(rates.instanceType == "m5.xlarge" && rates.capacityType == "spot")
                    #expect(rates.capacity.cpuCores == 4, "capacity from the Node object, not this host")
                    try await world.stop(agent)
                }
            }
        }
    }

    @Test("hub down for less than the in-memory buffer holds: the agent reconnects and re-sends; nothing lost, nothing twice", .timeLimit(.minutes(2)))
    func hubDownShorterThanBuffer() async throws {
        try await throughHubOutage(test: "short outage", flushMillis: 2000, spool: false, bufferBatches: nil, outageBatches: 3)
    }

    @Test("hub down for longer than the in-memory buffer holds, with a spool: nothing lost, nothing twice", .timeLimit(.minutes(2)))
    func hubDownLongerThanBufferWithSpool() async throws {
        // 1 s batches: five of them pile up in a short outage, and the agent's backoff stays short.
        try await throughHubOutage(test: "long outage, spool", flushMillis: 1000, spool: true, bufferBatches: 2, outageBatches: 5)
    }

    // MARK: 4

    @Test("agent killed with -9 while the hub is down: a new agent on the same spool delivers every batch once", .timeLimit(.minutes(3)))
    func killedAgentResumesFromSpool() async throws {
        try await AgentWorld.run { world in
            let api = try await world.container(pod: "payments", name: "api-1", running: Workload.burner(seconds: 300))
            let worker = try await world.container(pod: "payments", name: "worker-1", running: Workload.burner(seconds: 300, busyPercent: 40))
            let all = [api, worker]
            let before = try all.map { try world.cpuNanos($0) }
            let first = try await world.hub.serving {
                let agent = try world.startAgent(tickMillis: 500, flushMillis: 2000, spool: true)
                try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                for container in all { container.start() }
                try await agent.wait(for: "two batches acknowledged") { $0.acknowledged >= 2 }
                return agent
            }
            try await first.wait(for: "three batches waiting while the hub is down") { $0.queued >= 3 }

            // kill -9 loses the open batch and the time until a new agent's baseline, by design
            // (the spool holds closed batches). The burners stand still over that span, from the
            // flush boundary before the kill on, so every bit of CPU is in a closed batch.
            for container in all { try await container.pause() }
            try await first.waitForTicks(first.ticksPerFlush + 2, "ticks, past a flush boundary after the pause")
            let atKill = try #require(try first.metrics())
            first.killHard()

            // What the killed agent left in its spool.
            let spool = try Spool(directory: world.spoolDirectory, logger: quietLogger)
            let identity = spool.identity()
            let left = spool.unacknowledgedSequences()
            var leftSamples = 0
            for sequence in left {
                let bytes = try #require(try spool.read(sequence: sequence))
                leftSamples += try WireUsageBatch(serializedBytes: bytes).containers.reduce(0) { $0 + $1.cpuNanos.count }
            }
            spool.close()
            print("kill -9: agent at the kill: \(atKill); spool: \(identity.agentInstanceID), next sequence \(identity.nextSequence), unacknowledged \(left) holding \(leftSamples) samples")
            #expect(left.count >= 3, "batches closed while the hub was down wait in the spool")

            try await world.hub.serving {
                let second = try world.startAgent(tickMillis: 500, flushMillis: 2000, spool: true)
                try await second.wait(for: "its first reading") { $0.ticks >= 1 }
                for container in all { container.resume() }
                try await second.wait(for: "the first agent's batches delivered, and two of its own") {
                    $0.acknowledged >= left.count + 2 && $0.batchesClosed >= 2
                }
                let finals = try await world.retire(all, agent: second)
                let final = try await world.finish(second)
                let ingest = world.hub.ingest
                let costs = try await world.hub.costsByContainer()
                print("kill -9: second agent \(final); hub \(ingest)")

                #expect(second.log.contains(identity.agentInstanceID), "the new agent goes on as the same agent instance")
                Self.expectCPU(costs, all, expected: zip(finals, before).map { $0 - $1 }, test: "kill -9")
                // Sequences 1..<next were the first agent's; the second went on from there.
                #expect(
                    ingest.committed == Int(identity.nextSequence) - 1 + final.batchesClosed,
                    "every batch of both agents committed exactly once (duplicates: \(ingest.duplicates))")
                #expect(ingest.rejected == 0 && final.dropped == 0)
                // What kill -9 lost is the open batch: at most a flush interval of samples (and
                // the agent may have taken one more tick after the test's last look).
                let fromFirst = ingest.samples - (final.samples - all.count)
                let takenByFirst = atKill.samples - all.count
                print("kill -9: the first agent had taken \(takenByFirst) samples after its baselines; the hub has \(fromFirst) of them")
                #expect(fromFirst <= takenByFirst + all.count && fromFirst >= takenByFirst - first.ticksPerFlush * all.count)
            }
        }
    }

    // MARK: 5

    @Test("containers that exit mid-batch are counted up to their exit, whether present at the start or found later", .timeLimit(.minutes(3)))
    func containerExitingMidBatch() async throws {
        try await AgentWorld.run { world in
            try await world.hub.serving {
                // A 4 s batch; the early job runs ~3 s of it, then exits and its cgroup is removed at
                // once. Its run and the late job's end at 0.2 s and 0.3 s past a tick (both start
                // right after one), so each loses what it burned after the agent's last reading.
                let early = try await world.container(pod: "jobs", name: "early", running: Workload.burner(seconds: 3.2))
                let before = try world.cpuNanos(early)
                let agent = try world.startAgent(tickMillis: 500, flushMillis: 4000)
                try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                early.start()
                // The late job appears after the agent's first discovery: its whole counter is new usage.
                let late = try await world.container(pod: "jobs", name: "late", running: Workload.burner(seconds: 300))
                late.start()

                let earlyFinal = try await Self.exitAndRemove(early, in: world) {
                    let deadline = ContinuousClock.now + .seconds(10)
                    while early.process.process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                }
                // Once the early job is gone, samples grow again only when the late one is found.
                let afterEarly = try await agent.waitForTicks(2)
                try await agent.wait(for: "the late container discovered", timeout: .seconds(15)) { $0.samples > afterEarly.samples }
                try await Task.sleep(for: .milliseconds(1300))
                let lateFinal = try await Self.exitAndRemove(late, in: world) { _ = kill(late.pid, SIGKILL) }

                let final = try await world.finish(agent)
                let ingest = world.hub.ingest
                let costs = try await world.hub.costsByContainer()
                print("exit mid-batch: agent \(final); hub \(ingest)")

                // Between the agent's last reading and the exit, at most one tick passes (more if
                // the agent missed ticks), and a single-threaded process uses at most one core in
                // it: that is what may be missing.
                let lossBound = Double((1 + final.missedTicks) * agent.tickMillis) * 1e6
                for (container, expected) in [(early, earlyFinal - before), (late, lateFinal)] {
                    let hub = Self.hubCPUNanos(costs.group(for: container)?.result)
                    print(
                        "exit mid-batch: \(container.relative) CPU hub \(String(format: "%.6f", hub / 1e9)) s, cgroup at exit \(String(format: "%.6f", Double(expected) / 1e9)) s, "
                            + "missing \(String(format: "%.1f", (Double(expected) - hub) / 1e6)) ms (\(Self.percent(hub, Double(expected))))")
                    #expect(Double(expected) > 500_000_000, "\(container.relative) burned CPU")
                    #expect(
                        hub <= Double(expected) + Self.cpuSlackNanos && hub >= Double(expected) - lossBound - Self.cpuSlackNanos,
                        "\(container.relative): hub \(hub) ns, cgroup at exit \(expected) ns")
                }
                // Only the early job was there for the agent's first reading (a baseline); the
                // late one's first reading already counts.
                #expect(ingest.samples == final.samples - 1)
                #expect(ingest.committed == final.batchesClosed && ingest.duplicates == 0 && ingest.rejected == 0)
            }
        }
    }

    /// Ends `container` with `stop` (it exits), reads its cgroup's final counter, and removes the
    /// cgroup at once, as a runtime does; returns the final counter.
    static func exitAndRemove(_ container: TestContainer, in world: AgentWorld, _ stop: () async throws -> Void) async throws -> UInt64 {
        try await stop()
        container.process.process.waitUntilExit()
        let final = try world.cpuNanos(container)
        try world.cgroups.remove(container.relative)
        return final
    }
}
