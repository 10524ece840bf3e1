import Foundation
import Glibc
@testable import KubeHeroAgent
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroPKI
import KubeHeroTestSupport
import KubeHeroWire
import Logging
import SwiftProtobuf
import Synchronization
import Testing

// The pieces the agent's end-to-end tests are built from: real cgroups with python processes in
// them, a hub that can be stopped and started again on the same port, and `kubehero-agent run`
// processes started with the flags a DaemonSet would give them.

// MARK: - The hub

/// Ingest counters from the hub's /metrics, summed over the hub's lifetimes.
struct IngestCounters: Equatable, CustomStringConvertible {
    var committed = 0
    var duplicates = 0
    var rejected = 0
    var samples = 0
    var droppedTicks = 0

    init() {}

    /// Reads the Prometheus text the hub serves on /metrics.
    init(prometheus text: String) {
        let values = PrometheusText.values(text)
        committed = values.int("kubehero_ingest_batches_total{result=\"committed\"}")
        duplicates = values.int("kubehero_ingest_batches_total{result=\"duplicate\"}")
        rejected = values.int("kubehero_ingest_batches_total{result=\"rejected\"}")
        samples = values.int("kubehero_ingest_samples_total")
        droppedTicks = values.int("kubehero_ingest_dropped_ticks_total")
    }

    static func + (a: IngestCounters, b: IngestCounters) -> IngestCounters {
        var sum = a
        sum.committed += b.committed
        sum.duplicates += b.duplicates
        sum.rejected += b.rejected
        sum.samples += b.samples
        sum.droppedTicks += b.droppedTicks
        return sum
    }

    var description: String {
        "committed \(committed), duplicate \(duplicates), rejected \(rejected), samples \(samples), dropped ticks \(droppedTicks)"
    }
}

/// A hub on one data dir and one ingest port that stay the same across restarts, the way an
/// agent sees a hub that goes away and comes back. (`withTestHub` binds new ports each time,
/// which an agent started with `--hub HOST:PORT` would never find again.)
final class RestartableHub: Sendable {
    let dataDir: String
    let adminToken: String
    let ingestPort: Int
    let bundle: ClusterBundle
    private let state = Mutex(State())

    private struct State {
        var running: (hub: Hub, apiPort: Int)?
        var earlier = IngestCounters()
    }

    private init(dataDir: String, adminToken: String, ingestPort: Int, bundle: ClusterBundle) {
        self.dataDir = dataDir
        self.adminToken = adminToken
        self.ingestPort = ingestPort
        self.bundle = bundle
    }

    /// A new data dir with the cluster `cluster` registered (through the shared harness).
    static func make(cluster: String) async throws -> RestartableHub {
        let (dir, token) = try await TestHub.makeDataDir()
        let bundle = try await withTestHub(dataDir: (dir, token), keepDataDir: true) { try await $0.registerCluster(cluster) }
        return RestartableHub(dataDir: dir, adminToken: token, ingestPort: try Loopback.unusedPort(), bundle: bundle)
    }

    /// Runs the hub for the duration of `body`, then shuts it down gracefully.
    func serving<R>(_ body: () async throws -> R) async throws -> R {
        var options = HubOptions(dataDir: dataDir)
        options.apiHost = "127.0.0.1"
        options.apiPort = 0
        options.ingestHost = "127.0.0.1"
        options.ingestPort = ingestPort
        options.pricingSource = TestHub.repositoryRoot + "/pricing"
        let hub = try await Hub.open(options: options, logger: quietLogger)
        return try await withThrowingTaskGroup(of: Void.self, returning: R.self) { group in
            group.addTask { try await hub.run() }
            let addresses = await hub.addresses()
            state.withLock { $0.running = (hub, addresses.apiPort) }
            let result: Result<R, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            await hub.shutdown()
            let stopped: Result<Void, any Error>
            do {
                try await group.waitForAll()
                stopped = .success(())
            } catch {
                stopped = .failure(error)
            }
            // Counted after the hub stopped: batches committed while it shut down count too.
            let counters = IngestCounters(prometheus: Self.metricsText(hub))
            state.withLock {
                $0.earlier = $0.earlier + counters
                $0.running = nil
            }
            try stopped.get()
            return try result.get()
        }
    }

    /// The ingest counters of every lifetime so far, the current one included.
    var ingest: IngestCounters {
        state.withLock { s in s.earlier + (s.running.map { IngestCounters(prometheus: Self.metricsText($0.hub)) } ?? IngestCounters()) }
    }

    /// Polls the ingest counters until `condition` holds.
    @discardableResult
    func wait(for what: String, timeout: Duration, _ condition: (IngestCounters) -> Bool) async throws -> IngestCounters {
        let deadline = ContinuousClock.now + timeout
        while true {
            let counters = ingest
            if condition(counters) { return counters }
            guard ContinuousClock.now < deadline else { throw E2EError("timed out after \(timeout) waiting for the hub: \(what); it has \(counters)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// What `kubehero cost --window 1h --aggregate container` shows, by `namespace/pod/container`.
    func costsByContainer() async throws -> [String: CostGroupResult] {
        guard let apiPort = state.withLock({ $0.running?.apiPort }) else { throw E2EError("the hub is not running") }
        let client = try HubClient(baseURL: "https://127.0.0.1:\(apiPort)", token: adminToken, caFile: dataDir + "/ca.pem")
        do {
            let response = try await client.costs(.init(window: "1h", aggregate: "container"))
            try await client.shutdown()
            // The nodes' idle cost is a group of its own; these tests look at containers.
            let groups = response.steps.flatMap(\.groups).filter { !$0.name.hasPrefix(IdleIdentity.name + "/") }
            return Dictionary(groups.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// The rates the hub prices `node` of `cluster` with (`GET /v1/pricing?cluster=&node=`).
    func rates(cluster: String, node: String) async throws -> PricingRatesResponse {
        guard let apiPort = state.withLock({ $0.running?.apiPort }) else { throw E2EError("the hub is not running") }
        let client = try HubClient(baseURL: "https://127.0.0.1:\(apiPort)", token: adminToken, caFile: dataDir + "/ca.pem")
        do {
            let rates = try await client.pricingRates([("cluster", cluster), ("node", node)])
            try await client.shutdown()
            return rates
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    func removeDataDir() {
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    private static func metricsText(_ hub: Hub) -> String {
        hub.services.metrics.render(connectedAgents: [:], lastBatchAgeSeconds: [:])
    }
}

// MARK: - The agent

/// The counters an agent serves on /metrics.
struct AgentMetrics: CustomStringConvertible {
    let values: [String: Double]

    var ticks: Int { values.int("kubehero_agent_ticks_total") }
    var samples: Int { values.int("kubehero_agent_samples_total") }
    var missedTicks: Int { values.int("kubehero_agent_missed_ticks_total") }
    var containers: Int { values.int("kubehero_agent_containers") }
    var batchesClosed: Int { values.int("kubehero_agent_batches_closed_total") }
    var queued: Int { values.int("kubehero_agent_batches_queued") }
    var sent: Int { values.int("kubehero_agent_batches_sent_total") }
    var acknowledged: Int { values.int("kubehero_agent_batches_acknowledged_total") }
    var rejected: Int { values.int("kubehero_agent_batches_rejected_total") }
    var dropped: Int { values.int("kubehero_agent_batches_dropped_total") }

    var description: String {
        "ticks \(ticks) (missed \(missedTicks)), samples \(samples), containers \(containers), batches closed \(batchesClosed), "
            + "queued \(queued), sent \(sent), acknowledged \(acknowledged), rejected \(rejected), dropped \(dropped)"
    }
}

/// A `kubehero-agent run` process. Its log goes to a file, shown in errors when a wait fails.
final class AgentProcess {
    let process = Process()
    let logPath: String
    let healthPort: Int
    let tickMillis: Int
    let flushMillis: Int

    var ticksPerFlush: Int { flushMillis / tickMillis }

    init(arguments: [String], logPath: String, healthPort: Int, tickMillis: Int, flushMillis: Int) throws {
        self.logPath = logPath
        self.healthPort = healthPort
        self.tickMillis = tickMillis
        self.flushMillis = flushMillis
        process.executableURL = URL(fileURLWithPath: try Self.executable("kubehero-agent"))
        process.arguments = arguments
        // Only the flags configure it: KUBEHERO_* variables from the caller's environment would
        // be read as settings.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KUBEHERO_") }
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else { throw E2EError("cannot create \(logPath)") }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try log.close()
    }

    /// Where `runProduct` finds built executables: next to the test bundle, else `.build/debug`.
    static func executable(_ name: String) throws -> String {
        let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            binDir.appendingPathComponent(name).path, binDir.deletingLastPathComponent().appendingPathComponent(name).path,
            TestHub.repositoryRoot + "/.build/debug/\(name)",
        ]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw E2EError("\(name) is not built next to the tests (looked in \(candidates.joined(separator: ", "))); run swift build --build-tests")
        }
        return path
    }

    var isRunning: Bool { process.isRunning }

    /// The last lines of the agent's log, runs of lines that differ only in their timestamp
    /// shown once with their count.
    func logTail(lines: Int = 40) -> String {
        var collapsed: [(line: Substring, count: Int)] = []
        for line in log.split(separator: "\n") {
            // Text log lines start with an ISO 8601 timestamp and a space.
            let message = line.drop { $0 != " " }
            if let last = collapsed.last, last.line.drop(while: { $0 != " " }) == message {
                collapsed[collapsed.count - 1].count += 1
            } else {
                collapsed.append((line, 1))
            }
        }
        return collapsed.suffix(lines).map { $0.count > 1 ? "\($0.line)  [\($0.count) times]" : String($0.line) }.joined(separator: "\n")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The agent's /metrics now; nil until its health listener is up.
    func metrics() throws -> AgentMetrics? {
        guard isRunning else { throw E2EError("kubehero-agent exited (status \(process.terminationStatus)); its log ends:\n\(logTail())") }
        return try Loopback.get(port: healthPort, path: "/metrics").map { AgentMetrics(values: PrometheusText.values($0)) }
    }

    /// Polls /metrics until `condition` holds; the error names `what` and shows the log.
    @discardableResult
    func wait(for what: String, timeout: Duration = .seconds(30), _ condition: (AgentMetrics) -> Bool) async throws -> AgentMetrics {
        let deadline = ContinuousClock.now + timeout
        var last: AgentMetrics?
        while true {
            if let m = try metrics() {
                last = m
                if condition(m) { return m }
            }
            guard ContinuousClock.now < deadline else {
                throw E2EError("timed out after \(timeout) waiting for the agent: \(what); last metrics: \(last.map(\.description) ?? "none"); its log ends:\n\(logTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits for `count` more ticks than the agent has counted now. Two are needed for "a reading
    /// made after this moment": the tick counted next may have read before it.
    @discardableResult
    func waitForTicks(_ count: Int, _ what: String = "ticks") async throws -> AgentMetrics {
        let now = try await wait(for: "its health listener") { _ in true }
        return try await wait(for: "\(count) more \(what) after tick \(now.ticks)") { $0.ticks >= now.ticks + count }
    }

    /// Sleeps to the middle of a tick: ticks fall on wall-clock multiples of the tick, and the
    /// agent reads right after each, so a change made now lands between two readings.
    func waitForMidTick() async throws {
        let now = Int(Date().timeIntervalSince1970 * 1000)
        let phase = now % tickMillis
        let wait = (tickMillis / 2 - phase + tickMillis) % tickMillis
        try await Task.sleep(for: .milliseconds(wait))
    }

    /// SIGTERM, as the kubelet stops a pod; returns the exit status.
    func terminate(timeout: Duration = .seconds(20)) async throws -> Int32 {
        if isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            guard ContinuousClock.now < deadline else { throw E2EError("kubehero-agent did not exit within \(timeout) of SIGTERM; its log ends:\n\(logTail())") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// SIGKILL: the process gets no chance to do anything.
    func killHard() {
        if isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

// MARK: - Containers and the world they run in

/// A "container" for the agent to find: the cgroup `e2e/<pod>/<name>` below the test's top
/// cgroup, found by `--match '<top>/*/*/*'` and named by cgroup identity (pod and container from
/// the last two directories), with one python process in it that waits for `start()`.
final class TestContainer {
    let pod: String
    let name: String
    let process: CgroupTestProcess

    init(pod: String, name: String, process: CgroupTestProcess) {
        self.pod = pod
        self.name = name
        self.process = process
    }

    var relative: String { "e2e/\(pod)/\(name)" }
    /// How the container's group name in `GET /v1/costs?aggregate=container` ends
    /// (`NAMESPACE/POD/CONTAINER`; the namespace a cgroup path gives is not these tests' business).
    var hubNameSuffix: String { "/\(pod)/\(name)" }
    var pid: Int32 { process.pid }

    func start() { process.start() }

    /// SIGSTOP, returning once the process is stopped: from then on its cgroup's CPU counter
    /// stands still.
    func pause() async throws {
        kill(pid, SIGSTOP)
        let deadline = ContinuousClock.now + .seconds(5)
        while try Self.state(of: pid) != "T" {
            guard ContinuousClock.now < deadline else { throw E2EError("\(relative): process \(pid) did not stop") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func resume() { kill(pid, SIGCONT) }

    /// The state letter from /proc/<pid>/stat (R, S, T, Z, ...).
    static func state(of pid: Int32) throws -> String {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { throw E2EError("unexpected /proc/\(pid)/stat") }
        return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init) ?? ""
    }
}

/// What the containers run. Every script first says `waiting` and blocks on stdin until
/// `start()`: once the test has read that line, the container's CPU counter stands still.
enum Workload {
    /// Spins for `seconds`, busy `busyPercent` of every 20 ms, then exits.
    static func burner(seconds: Double, busyPercent: Int = 100) -> String {
        let busy = 0.02 * Double(busyPercent) / 100
        return waitingFirst(
            """
            import sys, time
            sys.stdin.readline()
            end = time.monotonic() + \(seconds)
            while time.monotonic() < end:
                busy = time.monotonic() + \(busy)
                while time.monotonic() < busy:
                    pass
                if \(busyPercent) < 100:
                    time.sleep(\(0.02 - busy))
            """)
    }

    /// Touches `mebibytes` of memory, says `ready`, and holds it.
    static func hog(mebibytes: Int) -> String { waitingFirst(CgroupTestProcess.hogScript(mebibytes: mebibytes)) }

    private static func waitingFirst(_ script: String) -> String { "print(\"waiting\", flush=True)\n" + script }
}

/// One test's world: its cgroups (below `kubehero-test-<uuid>` in v2, and in v1 memory on a
/// hybrid host), the processes in them, a hub, agent processes and a temp directory. Everything
/// is removed when the test ends, failed or not.
final class AgentWorld {
    /// A cgroup outside the agent's match (`<top>/*/*/*`) where processes go when their container ends.
    static let parking = "parking"
    static let nodeName = "e2e-node"

    let cgroups: TestCgroups
    let v2: CgroupMount
    let hub: RestartableHub
    let directory: String
    let bundlePath: String
    var spoolDirectory: String { directory + "/spool" }
    private var containers: [TestContainer] = []
    private var agents: [AgentProcess] = []

    private init(cgroups: TestCgroups, v2: CgroupMount, hub: RestartableHub, directory: String) throws {
        self.cgroups = cgroups
        self.v2 = v2
        self.hub = hub
        self.directory = directory
        self.bundlePath = directory + "/bundle.pem"
        try hub.bundle.pemString().write(toFile: bundlePath, atomically: true, encoding: .utf8)
    }

    /// Runs `body` in a new world and removes the world afterwards.
    static func run(_ body: (AgentWorld) async throws -> Void) async throws {
        let v2 = try #require(CgroupTestHost.v2)
        let cgroups = try TestCgroups(in: CgroupTestHost.v2Hierarchies())
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-e2e-\(UUID().uuidString)").path
        let world: AgentWorld
        do {
            try cgroups.make(parking)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            world = try AgentWorld(cgroups: cgroups, v2: v2, hub: try await RestartableHub.make(cluster: "e2e"), directory: directory)
        } catch {
            cgroups.removeAll()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        do {
            try await body(world)
        } catch {
            world.tearDown()
            throw error
        }
        world.tearDown()
    }

    private func tearDown() {
        for agent in agents { agent.killHard() }
        for container in containers { container.process.stop() }
        #expect(cgroups.removeAll().isEmpty, "cgroups left behind")
        hub.removeDataDir()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Makes the container's cgroup and puts a new process running `script` in it (waiting for `start()`).
    func container(pod: String, name: String, running script: String) async throws -> TestContainer {
        let container = TestContainer(pod: pod, name: name, process: try CgroupTestProcess(script: script))
        containers.append(container)
        try cgroups.make(container.relative)
        try cgroups.move(container.pid, into: container.relative)
        let line = container.process.readLine()
        guard line == "waiting" else { throw E2EError("\(container.relative): expected the process to say waiting, it said \"\(line)\"") }
        // It runs a few more microseconds before it blocks on stdin.
        let deadline = ContinuousClock.now + .seconds(5)
        while try TestContainer.state(of: container.pid) != "S" {
            guard ContinuousClock.now < deadline else { throw E2EError("\(container.relative): process \(container.pid) did not block on stdin") }
            try await Task.sleep(for: .milliseconds(1))
        }
        return container
    }

    /// The container's CPU counter (its cgroup's own, read by the test).
    func cpuNanos(_ container: TestContainer) throws -> UInt64 { try cgroups.cpuUsageNanos(container.relative) }

    func workingSetBytes(_ container: TestContainer) throws -> UInt64 { try cgroups.workingSetBytes(container.relative) }

    /// Starts `kubehero-agent run` on this world's containers, with its health listener on a
    /// free loopback port.
    func startAgent(
        tickMillis: Int = 500, flushMillis: Int = 2000, spool: Bool = false, bufferBatches: Int? = nil, bpf: [String] = ["--bpf", "off"],
        extraArguments: [String] = []
    ) throws -> AgentProcess {
        let healthPort = try Loopback.unusedPort()
        var arguments = [
            "run", "--hub", "127.0.0.1:\(hub.ingestPort)", "--cert", bundlePath, "--node", Self.nodeName,
            "--cgroup-root", v2.mountPoint, "--match", "\(cgroups.top)/*/*/*",
            "--tick", "\(tickMillis)ms", "--flush-interval", "\(flushMillis)ms",
            "--health-listen", "127.0.0.1:\(healthPort)", "--log-format", "text", "--drain-timeout-seconds", "5",
        ]
        // Most of these tests hold the agent to cpu.stat exactly, so cgroupfs by default.
        arguments += bpf
        if spool { arguments += ["--spool-dir", spoolDirectory] }
        if let bufferBatches { arguments += ["--buffer-batches", "\(bufferBatches)"] }
        arguments += extraArguments
        let agent = try AgentProcess(
            arguments: arguments, logPath: directory + "/agent-\(agents.count + 1).log", healthPort: healthPort,
            tickMillis: tickMillis, flushMillis: flushMillis)
        agents.append(agent)
        return agent
    }

    /// Ends `containers` the way a runtime does, in an order that leaves nothing to chance:
    /// each process leaves its cgroup (its counter stops; memory stays charged to the cgroup),
    /// the test reads the final counters, the agent gets two ticks to read the same values, and
    /// the cgroups are removed between two of its readings (so each container gets the same
    /// number of samples). Returns the final CPU counters, in order.
    func retire(_ containers: [TestContainer], agent: AgentProcess) async throws -> [UInt64] {
        for container in containers { try cgroups.move(container.pid, into: Self.parking) }
        let finals = try containers.map { try cpuNanos($0) }
        try await agent.waitForTicks(2)
        try await agent.waitForMidTick()
        for container in containers { try cgroups.remove(container.relative) }
        for container in containers { container.process.stop() }
        return finals
    }

    /// Once the agent samples nothing more: waits for the flush boundary that closes its last
    /// batch; from then on its sample and batch counters are final.
    @discardableResult
    func closeLastBatch(_ agent: AgentProcess) async throws -> AgentMetrics {
        try await agent.waitForTicks(agent.ticksPerFlush + 2, "ticks, past the flush boundary that closes the last batch")
    }

    /// Stops the agent with SIGTERM, expecting a clean exit.
    func stop(_ agent: AgentProcess) async throws {
        let status = try await agent.terminate()
        #expect(status == 0, "kubehero-agent exited with \(status) on SIGTERM; its log ends:\n\(agent.logTail())")
    }

    /// `closeLastBatch`, then waits for the hub to acknowledge everything and stops the agent;
    /// returns the agent's final counters.
    func finish(_ agent: AgentProcess, timeout: Duration = .seconds(30)) async throws -> AgentMetrics {
        try await closeLastBatch(agent)
        let final = try await agent.wait(for: "every batch acknowledged", timeout: timeout) { $0.queued == 0 }
        try await stop(agent)
        return final
    }
}

// MARK: - Small things

struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Prometheus text exposition, read as `name{labels}` -> value.
enum PrometheusText {
    static func values(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }
}

extension [String: Double] {
    func int(_ key: String) -> Int { Int(self[key] ?? 0) }
}

extension [String: CostGroupResult] {
    /// The one group of `container`, by the end of its name.
    func group(for container: TestContainer) -> (name: String, result: CostGroupResult)? {
        let matches = filter { $0.key.hasSuffix(container.hubNameSuffix) }
        guard matches.count == 1, let match = matches.first else { return nil }
        return (match.key, match.value)
    }
}

/// Loopback sockets, with the C API: what the tests need is small and must not hang.
enum Loopback {
    /// A TCP port on 127.0.0.1 that nothing listens on, below the kernel's ephemeral range, so
    /// that no outgoing connection takes it while a restarting hub is away from it.
    static func unusedPort() throws -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: 20_000..<32_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw E2EError("socket: \(String(cString: strerror(errno)))") }
            var address = address(port: port)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if bound == 0 { return port }
        }
        throw E2EError("no free loopback port found in 20000-32000")
    }

    /// `GET path` from 127.0.0.1:`port` (HTTP/1.1, `Connection: close`): the body of a 200
    /// answer, nil when nothing listens yet.
    static func get(port: Int, path: String) throws -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw E2EError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = address(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 {
            if errno == ECONNREFUSED { return nil }
            throw E2EError("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw E2EError("send to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw E2EError("recv from 127.0.0.1:\(port)\(path): \(String(cString: strerror(errno)))") }
            response += chunk[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw E2EError("GET \(path): no HTTP header in \(text.prefix(200))") }
        let status = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        guard status.split(separator: " ").dropFirst().first == "200" else { throw E2EError("GET \(path): \(status)") }
        return String(text[split.upperBound...])
    }

    private static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
