import Foundation
import Glibc
@testable import KubeHeroAgent
import KubeHeroCore
import Testing

/// `kubehero-agent run --bpf on` end to end: a container sends a known number of bytes, the
/// agent counts them by destination class with eBPF, the batch carries them, and the hub prices
/// them at the catalog's egress rate and shows them in `/v1/costs` by class.
@Suite(
    "eBPF agent end to end: network bytes by class priced by the hub",
    .serialized,
    .enabled(if: BPFTestHost.shouldRun && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
             "needs root, kernel BTF, a cgroup v2 mount and /usr/bin/python3 (with CI=true it runs and fails instead)")
)
struct EBPFAgentEndToEndTests {
    @Test("Egress of a container, classed as configured, is priced per class in /v1/costs", .timeLimit(.minutes(2)))
    func networkCostByClass() async throws {
        try BPFTestHost.require()
        try await AgentWorld.run { world in
            try await world.hub.serving {
                let count = 2000, size = 1400
                // 127.0.0.1 is this node (and loopback's own address, a /32 the agent finds); a
                // `class` line for the same network wins, pricing it as internet here, so that the
                // bytes have a cost to check.
                let sender = try await Self.udpSender(world, to: "127.0.0.1", count: count, size: size)
                let agent = try world.startAgent(tickMillis: 500, flushMillis: 2000, bpf: ["--bpf", "on", "--net-class", "127.0.0.1/32=internet"])
                try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                let group = try await Self.sendAndPrice([sender], world: world, agent: agent)[0]
                print("ebpf e2e: network cost by class \(group.networkCostByClass ?? [:])")
                let internet = try await Self.expectOnly(.internet, group, bytes: Double(count * (size + 28)), world: world)
                #expect(Double(group.networkCost).map { abs($0 - internet) < 1e-9 } == true, "networkCost \(group.networkCost) is the sum of the classes")
                #expect(agent.logTail(lines: 200).contains("eBPF sampling"), "the agent said it samples with eBPF")
            }
        }
    }

    @Test("With an API server, other nodes' addresses are classed by their zone and region labels: bytes sent to them are priced cross-zone and cross-region", .timeLimit(.minutes(3)))
    func classesFromNodeObjects() async throws {
        try BPFTestHost.require()
        // A node in another zone whose internal address is 127.0.0.2, and one in another region
        // at 127.0.0.3 (on loopback, so the bytes stay on this machine): listed by the fake API
        // server after the recorded GKE nodes. This node's zone and region come from flags.
        let peer = #"{"metadata": {"name": "peer-c", "labels": {"topology.kubernetes.io/zone": "europe-west1-c", "topology.kubernetes.io/region": "europe-west1"}}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.2"}]}}"#
        let far = #"{"metadata": {"name": "far-a", "labels": {"topology.kubernetes.io/zone": "us-central1-a", "topology.kubernetes.io/region": "us-central1"}}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.3"}]}}"#
        try await MetadataKubernetesAPITests.withFakeAPIServer(nodeName: AgentWorld.nodeName, extraNodes: [peer, far]) { api, _ in
            try await AgentWorld.run { world in
                try await world.hub.serving {
                    let count = 1000, size = 1400
                    let sender = try await Self.udpSender(world, to: "127.0.0.2", count: count, size: size)
                    let farSender = try await Self.udpSender(world, to: "127.0.0.3", count: count / 2, size: size, pod: "replicator")
                    let agent = try world.startAgent(tickMillis: 500, flushMillis: 2000, bpf: ["--bpf", "on"], extraArguments: [
                        "--kube-api", api.baseURL, "--kube-api-token-file", api.tokenFile ?? "", "--kube-api-ca-file", api.caFile ?? "",
                        "--node-label", "topology.kubernetes.io/zone=europe-west1-b", "--node-label", "topology.kubernetes.io/region=europe-west1",
                    ])
                    let deadline = ContinuousClock.now + .seconds(30)
                    while !agent.log.contains("network classes from the cluster's nodes") {
                        guard ContinuousClock.now < deadline else { throw E2EError("the agent never installed the nodes' classes: \(agent.logTail())") }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    // Bytes sent before the agent's first reading are in its baseline, not its deltas.
                    try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                    let groups = try await Self.sendAndPrice([sender, farSender], world: world, agent: agent)
                    _ = try await Self.expectOnly(.crossZone, groups[0], bytes: Double(count * (size + 28)), world: world)
                    _ = try await Self.expectOnly(.crossRegion, groups[1], bytes: Double(count / 2 * (size + 28)), world: world)
                }
            }
        }
    }

    /// A container (of pod `pod`) that, once started, sends `count` UDP datagrams of `size` bytes
    /// to `target` port 9, prints `sent`, and waits.
    static func udpSender(_ world: AgentWorld, to target: String, count: Int, size: Int, pod: String = "shop") async throws -> TestContainer {
        try await world.container(pod: pod, name: "uploader", running: """
            print("waiting", flush=True)
            import socket, sys, time
            sys.stdin.readline()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            payload = b"u" * \(size)
            for i in range(\(count)):
                s.sendto(payload, ("\(target)", 9))
            print("sent", flush=True)
            time.sleep(60)
            """)
    }

    /// Lets the senders send, retires them, ends the agent, and returns the senders' costs.
    static func sendAndPrice(_ senders: [TestContainer], world: AgentWorld, agent: AgentProcess) async throws -> [CostGroupResult] {
        for sender in senders {
            sender.start()
            #expect(sender.process.readLine() == "sent")
        }
        _ = try await world.retire(senders, agent: agent)
        _ = try await world.finish(agent)
        let costs = try await world.hub.costsByContainer()
        return try senders.map { sender in try #require(costs.group(for: sender)?.result, "no row for a sender: \(costs.keys.sorted())") }
    }

    /// Expects `bytes` priced at the node's egress rate for `expected`, and no cost in the other
    /// classes; returns the cost of `expected`.
    static func expectOnly(_ expected: NetworkClass, _ group: CostGroupResult, bytes: Double, world: AgentWorld) async throws -> Double {
        let rates = try await world.hub.rates(cluster: "e2e", node: AgentWorld.nodeName)
        let rate = try #require(rates.egressPerGiBUSD[expected.rawValue].flatMap(Double.init))
        let cost = bytes / Double(1 << 30) * rate
        let measured = try #require(group.networkCostByClass?[expected.rawValue].flatMap(Double.init), "no \(expected.rawValue) cost")
        print("ebpf e2e: \(expected.rawValue) \(measured) USD for \(Int(bytes)) bytes at \(rate)/GiB; by class \(group.networkCostByClass ?? [:])")
        #expect(rate > 0)
        #expect(abs(measured - cost) <= cost * 0.01 + 1e-9, "\(expected.rawValue) egress cost \(measured) USD, expected \(cost) (\(bytes) bytes at \(rate)/GiB)")
        for other in NetworkClass.allCases where other != expected {
            #expect((group.networkCostByClass?[other.rawValue].flatMap(Double.init) ?? 0) == 0, "\(other.rawValue) has cost")
        }
        return measured
    }

    /// Runs `kubehero-agent run` as user nobody with no capabilities (setpriv), `--bpf MODE`;
    /// returns its exit status (nil: still running after `seconds`, then stopped) and its log.
    static func unprivilegedAgent(world: AgentWorld, mode: String, seconds: Int) async throws -> (status: Int32?, log: String) {
        let bundle = world.directory + "/nobody-bundle.pem"
        if !FileManager.default.fileExists(atPath: bundle) { try FileManager.default.copyItem(atPath: world.bundlePath, toPath: bundle) }
        chmod(bundle, 0o644)
        chmod(world.directory, 0o755)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = [
            "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
            try AgentProcess.executable("kubehero-agent"), "run", "--hub", "127.0.0.1:\(world.hub.ingestPort)", "--cert", bundle,
            "--node", AgentWorld.nodeName, "--cgroup-root", world.v2.mountPoint, "--match", "\(world.cgroups.top)/*/*/*",
            "--health-listen", "off", "--log-format", "text", "--bpf", mode,
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KUBEHERO_") }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = ContinuousClock.now + .seconds(seconds)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let exited = !process.isRunning
        if !exited { process.terminate() }
        process.waitUntilExit()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (exited ? process.terminationStatus : nil, log)
    }

    @Test("Without privilege the agent says why eBPF is unavailable: --bpf auto keeps running on cgroupfs, --bpf on refuses to start", .timeLimit(.minutes(3)))
    func unprivileged() async throws {
        try BPFTestHost.require()
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "setpriv (util-linux) is needed to drop privileges")
        try await AgentWorld.run { world in
            let on = try await Self.unprivilegedAgent(world: world, mode: "on", seconds: 20)
            #expect(on.status != nil && on.status != 0, "--bpf on without privilege must not start: \(on.log)")
            #expect(on.log.contains("--bpf: on, but eBPF cannot be used") && on.log.contains("needs root, or CAP_BPF"), "\(on.log)")

            let auto = try await Self.unprivilegedAgent(world: world, mode: "auto", seconds: 3)
            #expect(auto.status == nil, "--bpf auto keeps running without privilege: \(auto.log)")
            #expect(auto.log.contains("eBPF unavailable") && auto.log.contains("needs root, or CAP_BPF"), "\(auto.log)")
        }
    }
}
