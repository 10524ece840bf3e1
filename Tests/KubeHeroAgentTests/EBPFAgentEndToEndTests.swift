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
                let sender = try await world.container(pod: "shop", name: "uploader", running: """
                    print("waiting", flush=True)
                    import socket, sys, time
                    sys.stdin.readline()
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    payload = b"u" * \(size)
                    for i in range(\(count)):
                        s.sendto(payload, ("127.0.0.1", 9))
                    print("sent", flush=True)
                    time.sleep(60)
                    """)
                let agent = try world.startAgent(tickMillis: 500, flushMillis: 2000, bpf: ["--bpf", "on", "--net-class", "127.0.0.1/32=internet"])
                try await agent.wait(for: "its first reading") { $0.ticks >= 1 }
                sender.start()
                #expect(sender.process.readLine() == "sent")
                _ = try await world.retire([sender], agent: agent)
                let final = try await world.finish(agent)
                let costs = try await world.hub.costsByContainer()
                let rates = try await world.hub.rates(cluster: "e2e", node: AgentWorld.nodeName)
                let group = try #require(costs.group(for: sender)?.result, "no row for the sender: \(costs.keys.sorted())")
                print("ebpf e2e: agent \(final); network cost by class \(group.networkCostByClass ?? [:])")

                let bytes = Double(count * (size + 28))
                let rate = try #require(rates.egressPerGiBUSD[NetworkClass.internet.rawValue].flatMap(Double.init))
                let expected = bytes / Double(1 << 30) * rate
                let internet = try #require(group.networkCostByClass?[NetworkClass.internet.rawValue].flatMap(Double.init))
                #expect(rate > 0)
                #expect(abs(internet - expected) <= expected * 0.01 + 1e-9, "internet egress cost \(internet) USD, expected \(expected) (\(bytes) bytes at \(rate)/GiB)")
                for other in [NetworkClass.sameNode, .sameZone, .crossZone] {
                    #expect((group.networkCostByClass?[other.rawValue].flatMap(Double.init) ?? 0) == 0, "\(other.rawValue) has cost")
                }
                #expect(Double(group.networkCost).map { abs($0 - internet) < 1e-9 } == true, "networkCost \(group.networkCost) is the sum of the classes")
                #expect(agent.logTail(lines: 200).contains("eBPF sampling"), "the agent said it samples with eBPF")
            }
        }
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
