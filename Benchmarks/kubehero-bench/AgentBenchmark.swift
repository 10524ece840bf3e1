// kubehero-bench agent: the node agent's own cost, measured on the real binary.
//
//   sudo kubehero-bench agent                          # 200 containers, 1 s ticks, one 60 s batch measured
//   sudo kubehero-bench agent --flush-interval 10s     # six 10 s batches in the same minute
//
// See BENCHMARKS.md for the method and recorded figures.

import ArgumentParser
import Foundation
import KubeHeroCLI
import KubeHeroCore
import KubeHeroPKI
import KubeHeroWire
import SwiftProtobuf

struct AgentOverhead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Runs kubehero-agent on real cgroups against a real hub; prints its average CPU, peak RSS and bytes per container-sample.",
        discussion: """
            Makes the container cgroups (each with a process; one in ten busy), starts kubehero-hub on a \
            temporary data dir and kubehero-agent with --match on them, and measures the agent over whole \
            flush intervals after a warm-up: CPU from /proc/<pid>/stat, peak RSS (VmHWM) from \
            /proc/<pid>/status, the encoded batch size from the agent's /metrics (the hub is paused for a \
            moment around one batch so that the batch waits in the agent's queue), and the bytes TCP carried \
            from ss(8). Needs root and a cgroup v2 mount (unified or hybrid). Everything it makes is removed \
            afterwards, also on Ctrl-C.
            """
    )

    static let targetMillicores = 10.0
    static let targetRSSMiB = 30.0
    static let targetBytesPerSample = 24.0

    @Option(help: "Container cgroups to make, each with a process of its own.")
    var containers = 200

    @Option(help: "Seconds to measure, rounded up to whole flush intervals.")
    var seconds = 60

    @Option(help: "The agent's --tick.")
    var tick = "1s"

    @Option(help: "The agent's --flush-interval (at least 4 s and half a tick): the batch length, and the measured window's unit.")
    var flushInterval = "60s"

    @Option(help: "Seconds the agent runs before the window; the window then starts 3 s and half a tick after the next flush.")
    var warmup = 5

    @Option(help: "The agent's --bpf: auto (eBPF where possible), on, off.")
    var bpf = "auto"

    @Option(help: "kubehero-agent binary (default: next to this binary).")
    var agentBinary: String?

    @Option(help: "kubehero-hub binary (default: next to this binary).")
    var hubBinary: String?

    func validate() throws {
        guard containers >= 1 else { throw ValidationError("--containers must be at least 1") }
        guard seconds >= 1 else { throw ValidationError("--seconds must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        let flush = try DurationText.parseMillis(flushInterval, field: "--flush-interval")
        let tickMillis = try DurationText.parseMillis(tick, field: "--tick")
        guard flush >= 4000 + tickMillis / 2 else {
            throw ValidationError("--flush-interval must be at least 4 s and half a tick: the window starts 3 s and half a tick after a flush, and the bench holds the next batch back from 0.5 s before it closes")
        }
        guard flush % tickMillis == 0 else { throw ValidationError("--flush-interval must be a whole number of ticks") }
    }

    func run() async throws {
        let flushMillis = try DurationText.parseMillis(flushInterval, field: "--flush-interval")
        let tickMillis = try DurationText.parseMillis(tick, field: "--tick")
        let cycles = Int((Int64(seconds) * 1000 + flushMillis - 1) / flushMillis)
        let agentPath = agentBinary ?? Ingest.siblingBinary("kubehero-agent")
        let hubPath = hubBinary ?? Ingest.siblingBinary("kubehero-hub")
        for (flag, path) in [("--agent-binary", agentPath), ("--hub-binary", hubPath)] where access(path, X_OK) != 0 {
            throw ValidationError("\(path) is not an executable; build it (swift build -c release --product \(URL(fileURLWithPath: path).lastPathComponent)) or pass \(flag)")
        }

        let cleanup = BenchCleanup()
        let interrupts = cleanup.onInterrupt()
        defer {
            interrupts.cancel()
            cleanup.run()
        }
        let loadBefore = loadAverage()
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average \(loadBefore)")

        let hierarchies = try CgroupHierarchies.find()
        // Long enough for the run; bounded should the bench die without cleaning up.
        let lifetime = warmup + Int(flushMillis / 1000) * (cycles + 2) + 300
        let bench = try BenchContainers(count: containers, hierarchies: hierarchies, lifetimeSeconds: lifetime, cleanup: cleanup)
        defer { bench.reap() }
        print("made \(containers) container cgroups (\(bench.busy) busy) at \(bench.top)/ns-N/pod-N in \(hierarchies.all.joined(separator: " and "))")

        let hub = try await HubProcess.start(binary: hubPath)
        cleanup.add(child: hub.process.processIdentifier)
        cleanup.add(tree: hub.dataDir)
        defer {
            hub.stop()
            cleanup.forget(child: hub.process.processIdentifier)
        }
        let bundlePath = hub.dataDir + "/agent-bench-cert.pem"
        try await hub.registerCluster(name: "agent-bench").pemString().write(toFile: bundlePath, atomically: true, encoding: .utf8)

        let arguments = [
            "run", "--hub", "\(hub.ingest.host):\(hub.ingest.port)", "--cert", bundlePath, "--node", "bench-node",
            "--match", bench.match, "--cgroup-root", hierarchies.v2, "--tick", tick, "--flush-interval", flushInterval,
            "--health-listen", "127.0.0.1:\(try HubProcess.freePort())", "--log-level", "warning", "--bpf", bpf,
        ]
        let agent = try AgentProcess.start(binary: agentPath, arguments: arguments)
        cleanup.add(child: agent.pid)
        defer {
            agent.stop()
            cleanup.forget(child: agent.pid)
        }
        print("started agent: \(agentPath) \(arguments.map { $0.contains("*") ? "'\($0)'" : $0 }.joined(separator: " "))")

        var clients: [HubClient] = []
        let measured: Measurement
        do {
            let hubAPI = try hub.client()
            clients.append(hubAPI)
            let agentAPI = try agent.client()
            clients.append(agentAPI)
            measured = try await measure(agent: agent, agentAPI: agentAPI, hub: hub, hubAPI: hubAPI, tickMillis: tickMillis, flushMillis: flushMillis, cycles: cycles)
        } catch {
            for client in clients { try? await client.shutdown() }
            throw error
        }
        for client in clients { try? await client.shutdown() }
        print("")
        print(measured.report(containers: containers, busy: bench.busy, tick: tick, flush: flushInterval, load: (loadBefore, loadAverage())))
    }

    /// The agent over `cycles` whole flush intervals, starting 3 s (and half a tick, so that no
    /// tick falls on an edge) after the first flush that comes at least `warmup` seconds after
    /// the agent started: the window holds exactly `cycles` batch closes, sends and
    /// acknowledgements.
    func measure(
        agent: AgentProcess, agentAPI: HubClient, hub: HubProcess, hubAPI: HubClient, tickMillis: Int64, flushMillis: Int64, cycles: Int
    ) async throws -> Measurement {
        try await agent.waitUntilConnected(agentAPI)
        let settle = 3000 + tickMillis / 2
        let firstFlush = ((agent.startedMillis + Int64(warmup) * 1000) / flushMillis + 1) * flushMillis
        let windowStart = firstFlush + settle
        let windowEnd = windowStart + Int64(cycles) * flushMillis
        print("warm-up until \(clockTime(windowStart)) (3 s and half a tick after a flush); then \(cycles) flush interval(s) measured, until \(clockTime(windowEnd))")
        try await sleepUntil(wallMillis: windowStart)

        // Reading /metrics costs the agent a little CPU: take the CPU reading after them at the
        // start and before them at the end, so the window does not include them.
        let startAgent = try await agent.metrics(agentAPI)
        guard startAgent.containers == containers else {
            throw BenchError("the agent samples \(startAgent.containers) containers, expected \(containers): is --match right?")
        }
        guard startAgent.connected, startAgent.batchesQueued == 0 else {
            throw BenchError("the agent is not shipping: connected \(startAgent.connected), \(startAgent.batchesQueued) batches waiting")
        }
        let startHubSamples = try await hubSamples(hubAPI)
        let startTCP = try TCPCounters.bytesSent(to: hub.ingest.host, port: hub.ingest.port)
        let startCPU = try ProcStat.cpuTime(pid: agent.pid)
        let clock = ContinuousClock()
        let start = clock.now

        let batch = try await captureBatch(closingAt: firstFlush + flushMillis, agent: agent, agentAPI: agentAPI, hub: hub, hubAPI: hubAPI)

        try await sleepUntil(wallMillis: windowEnd)
        let endCPU = try ProcStat.cpuTime(pid: agent.pid)
        let elapsed = clock.now - start
        let endAgent = try await agent.metrics(agentAPI)
        let endHubSamples = try await hubSamples(hubAPI)
        let endTCP = try TCPCounters.bytesSent(to: hub.ingest.host, port: hub.ingest.port)
        let tcp = TCPCounters.sent(from: startTCP, to: endTCP)

        return Measurement(
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            cpu: endCPU - startCPU,
            peakRSSKiB: ProcStatus.kibibytes("VmHWM", pid: agent.pid) ?? 0,
            rssKiB: ProcStatus.kibibytes("VmRSS", pid: agent.pid) ?? 0,
            anonymousKiB: ProcStatus.kibibytes("RssAnon", pid: agent.pid) ?? 0,
            fileKiB: ProcStatus.kibibytes("RssFile", pid: agent.pid) ?? 0,
            threads: ProcStatus.value("Threads", pid: agent.pid) ?? "?",
            cycles: cycles,
            samples: endAgent.samples - startAgent.samples,
            ticks: endAgent.ticks - startAgent.ticks,
            missedTicks: endAgent.missedTicks - startAgent.missedTicks,
            acknowledged: endAgent.acknowledged - startAgent.acknowledged,
            sent: endAgent.sent - startAgent.sent,
            committedSamples: endHubSamples - startHubSamples,
            tcpBytes: tcp.bytes,
            connections: endTCP.count,
            closedConnections: tcp.closed,
            batch: batch
        )
    }

    /// The encoded size of the batch the agent closes at `boundary`, from its own
    /// `kubehero_agent_batches_queued_bytes`: the hub is paused (SIGSTOP) from 0.5 s before the
    /// close until the agent reports the batch queued, so that it waits there unacknowledged;
    /// its container-samples are what the hub commits once resumed.
    func captureBatch(closingAt boundary: Int64, agent: AgentProcess, agentAPI: HubClient, hub: HubProcess, hubAPI: HubClient) async throws -> BatchSize {
        try await sleepUntil(wallMillis: boundary - 500)
        let before = try await agent.metrics(agentAPI)
        let hubBefore = try await hubSamples(hubAPI)
        hub.pause()
        var queued: AgentMetrics
        do {
            try await sleepUntil(wallMillis: boundary + 1000)
            queued = try await agent.metrics(agentAPI)
            for _ in 0..<20 where queued.batchesClosed == before.batchesClosed {
                try await Task.sleep(for: .milliseconds(250))
                queued = try await agent.metrics(agentAPI)
            }
        } catch {
            hub.resume()
            throw error
        }
        hub.resume()
        guard queued.batchesClosed == before.batchesClosed + 1, before.batchesQueued == 0, queued.batchesQueued == 1 else {
            throw BenchError(
                "expected one batch waiting after the flush at \(clockTime(boundary)); the agent closed \(queued.batchesClosed - before.batchesClosed) and has \(queued.batchesQueued) waiting (\(before.batchesQueued) before)")
        }
        var acked = queued
        for _ in 0..<60 where acked.acknowledged == before.acknowledged {
            try await Task.sleep(for: .milliseconds(250))
            acked = try await agent.metrics(agentAPI)
        }
        guard acked.acknowledged == before.acknowledged + 1 else { throw BenchError("the hub did not acknowledge the batch within 15 s of being resumed") }
        return BatchSize(bytes: queued.queuedBytes, samples: try await hubSamples(hubAPI) - hubBefore)
    }

    func hubSamples(_ hubAPI: HubClient) async throws -> Int {
        let (status, body) = try await hubAPI.raw(method: "GET", path: "/metrics")
        guard status == 200, let samples = PrometheusText.value("kubehero_ingest_samples_total", in: body) else {
            throw BenchError("the hub's /metrics answered \(status) without kubehero_ingest_samples_total")
        }
        return Int(samples)
    }
}

/// One encoded batch and the container-samples it held.
struct BatchSize {
    var bytes: Int
    var samples: Int
}

/// What one run measured over its window.
struct Measurement {
    var seconds: Double
    var cpu: CPUTime
    var peakRSSKiB: Int
    /// Resident now, and of that, anonymous memory (heap, stacks) and file pages (the binary and
    /// the libraries it maps).
    var rssKiB: Int
    var anonymousKiB: Int
    var fileKiB: Int
    var threads: String
    var cycles: Int
    /// The agent's counters over the window.
    var samples: Int
    var ticks: Int
    var missedTicks: Int
    var acknowledged: Int
    var sent: Int
    /// Container-samples the hub committed over the window: those of the acknowledged batches.
    var committedSamples: Int
    var tcpBytes: UInt64
    var connections: Int
    var closedConnections: Int
    var batch: BatchSize

    var millicores: Double { cpu.total / seconds * 1000 }
    var peakRSSMiB: Double { Double(peakRSSKiB) / 1024 }
    var payloadPerSample: Double { Double(batch.bytes) / Double(max(batch.samples, 1)) }
    var tcpPerSample: Double { Double(tcpBytes) / Double(max(committedSamples, 1)) }

    func report(containers: Int, busy: Int, tick: String, flush: String, load: (before: String, after: String)) -> String {
        typealias Target = AgentOverhead
        let ticksPerBatch = batch.samples / max(containers, 1)
        let identity = KubernetesIdentityEstimate()
        var lines = [
            "containers:             \(containers) (\(busy) busy), tick \(tick), flush interval \(flush)",
            "measured:               \(format(seconds, 1)) s = \(cycles) flush interval(s), after the warm-up",
            "agent CPU:              \(format(millicores, 2)) millicores average  \(verdict(millicores, Target.targetMillicores, "millicores"))",
            "                        \(format(cpu.total, 2)) s of CPU: \(format(cpu.user, 2)) user, \(format(cpu.system, 2)) system (in clock ticks of 10 ms)",
            "agent peak RSS:         \(format(peakRSSMiB, 1)) MiB (VmHWM)  \(verdict(peakRSSMiB, Target.targetRSSMiB, "MiB"))",
            "                        now \(mebibytes(rssKiB)) MiB: \(mebibytes(anonymousKiB)) anonymous, \(mebibytes(fileKiB)) file-backed (binary, libraries); \(threads) threads",
            "samples taken:          \(samples) in \(ticks) ticks (kubehero_agent_samples_total), \(missedTicks) ticks missed",
            "CPU per sample:         \(format(cpu.total / Double(max(samples, 1)) * 1e6, 1)) µs per container-sample (everything the agent does, over samples)",
            "batches acknowledged:   \(acknowledged) of \(sent) sent; the hub committed \(committedSamples) container-samples",
            "payload bytes/sample:   \(format(payloadPerSample, 2)) (one batch: \(batch.bytes) bytes encoded, \(batch.samples) container-samples)  \(verdict(payloadPerSample, Target.targetBytesPerSample, "bytes"))",
            "TCP bytes/sample:       \(format(tcpPerSample, 2)) (\(tcpBytes) bytes sent by the agent's connection, TLS + HTTP/2 + gRPC framing included)  \(verdict(tcpPerSample, Target.targetBytesPerSample, "bytes"))",
            "  with kubelet names:   about +\(format(Double(identity.extraBytes) / Double(max(ticksPerBatch, 1)), 2)) bytes/sample: a container named from the kubelet (\(identity.description)) encodes \(identity.extraBytes) bytes more per batch than this bench's cgroup-named ones",
            "load average:           \(load.before) before, \(load.after) after",
        ]
        if closedConnections > 0 || connections != 1 {
            lines.append("note: the agent had \(connections) connection(s) to the hub at the end and \(closedConnections) closed during the window: TCP bytes of closed connections are missing")
        }
        if cycles < 2 {
            lines.append("note: one batch per flush interval: the byte figures come from a single batch; --flush-interval 10s gives several")
        }
        return lines.joined(separator: "\n")
    }

    private func mebibytes(_ kibibytes: Int) -> String { format(Double(kibibytes) / 1024, 1) }

    private func verdict(_ value: Double, _ target: Double, _ unit: String) -> String {
        value <= target
            ? "[target <= \(format(target, 0)): met]"
            : "[target <= \(format(target, 0)): MISSED by \(format(value - target, 2)) \(unit), \(format((value / target - 1) * 100, 0))%]"
    }
}

/// How many more bytes a container's series carries per batch when the agent names it from the
/// kubelet (namespace, pod, UID, labels, owner, requests and limits) than when it names it from
/// the cgroup path as in this benchmark: the same encoding the agent uses, for a typical pod.
struct KubernetesIdentityEstimate {
    let description = "namespace, pod, UID, 3 labels, owner, requests and limits"
    let extraBytes: Int

    init() {
        let cgroupNamed = ContainerIdentity(namespace: "cgroup", pod: "ns-3", container: "pod-173")
        let kubeletNamed = ContainerIdentity(
            namespace: "payments", pod: "checkout-api-7d9f8b6c5d-x2k4q", container: "checkout-api",
            podUID: "3f6c1e2a-9b7d-4c58-a1e3-5d2f8b9c0e47",
            labels: ["app.kubernetes.io/name": "checkout-api", "team": "payments", "pod-template-hash": "7d9f8b6c5d"],
            ownerKind: "ReplicaSet", ownerName: "checkout-api-7d9f8b6c5d",
            cpuRequestMillicores: 250, memoryRequestBytes: 256 << 20, cpuLimitMillicores: 1000, memoryLimitBytes: 512 << 20
        )
        func size(_ identity: ContainerIdentity) -> Int {
            let series = WireContainerSeries(ContainerSamples(cgroupID: 123_456, identity: identity, cpuNanos: [], memoryWorkingSetBytes: []))
            return ((try? series.serializedBytes()) as [UInt8]?)?.count ?? 0
        }
        extraBytes = size(kubeletNamed) - size(cgroupNamed)
    }
}

private typealias WireContainerSeries = Kubehero_Wire_V1_ContainerSeries

/// A `kubehero-agent run` child process.
final class AgentProcess {
    let process: Process
    let health: HostPort
    /// Wall-clock time it was started, Unix milliseconds.
    let startedMillis: Int64

    var pid: Int32 { process.processIdentifier }

    private init(process: Process, health: HostPort, startedMillis: Int64) {
        self.process = process
        self.health = health
        self.startedMillis = startedMillis
    }

    /// Starts the agent with `arguments`, which must hold `--health-listen HOST:PORT`.
    static func start(binary: String, arguments: [String]) throws -> AgentProcess {
        guard let i = arguments.firstIndex(of: "--health-listen"), i + 1 < arguments.count else {
            throw BenchError("the agent needs --health-listen for its /metrics")
        }
        let health = try HostPort(parsing: arguments[i + 1], field: "--health-listen")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        try process.run()
        return AgentProcess(process: process, health: health, startedMillis: wallMillis())
    }

    /// A plain-HTTP client for /metrics; call `shutdown()` on it when done.
    func client() throws -> HubClient {
        try HubClient(baseURL: "http://\(health.host):\(health.port)")
    }

    func metrics(_ client: HubClient) async throws -> AgentMetrics {
        let (status, body) = try await client.raw(method: "GET", path: "/metrics")
        guard status == 200 else { throw BenchError("the agent's /metrics answered \(status)") }
        return try AgentMetrics(prometheus: body)
    }

    /// Waits until the agent answers /metrics and its stream to the hub is up (at most 30 s).
    func waitUntilConnected(_ client: HubClient) async throws {
        for _ in 0..<300 {
            guard process.isRunning else { throw BenchError("the agent exited with \(process.terminationStatus); its log is above") }
            if let m = try? await metrics(client), m.connected { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the agent did not connect to the hub within 30 s")
    }

    /// SIGTERM (the agent ships its open batch and drains), then SIGKILL after 20 s.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<400 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}

/// The agent's /metrics counters the benchmark reads.
struct AgentMetrics {
    var samples: Int
    var ticks: Int
    var missedTicks: Int
    var containers: Int
    var batchesClosed: Int
    var batchesQueued: Int
    var queuedBytes: Int
    var sent: Int
    var acknowledged: Int
    var connected: Bool

    init(prometheus text: String) throws {
        func value(_ name: String) throws -> Int {
            guard let v = PrometheusText.value(name, in: text) else { throw BenchError("the agent's /metrics has no \(name)") }
            return Int(v)
        }
        samples = try value("kubehero_agent_samples_total")
        ticks = try value("kubehero_agent_ticks_total")
        missedTicks = try value("kubehero_agent_missed_ticks_total")
        containers = try value("kubehero_agent_containers")
        batchesClosed = try value("kubehero_agent_batches_closed_total")
        batchesQueued = try value("kubehero_agent_batches_queued")
        queuedBytes = try value("kubehero_agent_batches_queued_bytes")
        sent = try value("kubehero_agent_batches_sent_total")
        acknowledged = try value("kubehero_agent_batches_acknowledged_total")
        connected = try value("kubehero_agent_hub_connected") == 1
    }
}

func wallMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

func sleepUntil(wallMillis t: Int64) async throws {
    let wait = t - wallMillis()
    if wait > 0 { try await Task.sleep(for: .milliseconds(wait)) }
}

/// `HH:MM:SS` local time of a wall-clock instant.
func clockTime(_ millis: Int64) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss"
    return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
}

func format(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}
