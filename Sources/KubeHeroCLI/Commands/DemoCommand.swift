import ArgumentParser
import KubeHeroAgent
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPKI

#if canImport(Glibc)
import Glibc
#endif

import Foundation

/// `kubehero demo`: the whole loop on this machine. A hub on a temporary SQLite data dir, a
/// registered cluster, the real agent sampling real cgroups (when root: a few demo workloads in
/// their own cgroups, named like pods in three namespaces, removed afterwards), a short flush
/// interval, then the cost table by namespace, one container's series, and where the data lives.
///
/// It drives the real `kubehero-hub` and `kubehero-agent` binaries found next to this one, so
/// the demo shows exactly what a deployment runs.
public struct DemoCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run hub, agent and demo workloads on this machine, then show what they cost."
    )

    @Option(help: "How long the agent samples (e.g. 35s).")
    var duration: String = "35s"

    @Option(help: "Agent flush interval (batch length).")
    var flushInterval: String = "10s"

    @Option(help: "Where to put the hub's data dir (default: a new directory under /tmp).")
    var dataDir: String?

    public init() {}

    public func run() async throws {
        let durationMillis = try DurationText.parseMillis(duration, field: "--duration")
        let flushMillis = try DurationText.parseMillis(flushInterval, field: "--flush-interval")
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let hubBinary = bin.appendingPathComponent("kubehero-hub").path
        let agentBinary = bin.appendingPathComponent("kubehero-agent").path
        for b in [hubBinary, agentBinary] where !FileManager.default.isExecutableFile(atPath: b) {
            throw CLIError("\(b) is missing: build it first (swift build), the demo runs the real binaries next to kubehero")
        }
        let dir = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-demo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let demo = DemoRun(dir: dir, hubBinary: hubBinary, agentBinary: agentBinary)
        defer { demo.stopAll() }
        try await demo.run(durationMillis: durationMillis, flushMillis: flushMillis)
    }
}

/// The processes and cgroups of one demo run, stopped and removed by `stopAll`.
final class DemoRun {
    let dir: String
    let hubBinary: String
    let agentBinary: String
    var hub: Process?
    var agent: Process?
    var workloads: [Process] = []
    var cgroupDirs: [String] = []

    init(dir: String, hubBinary: String, agentBinary: String) {
        self.dir = dir
        self.hubBinary = hubBinary
        self.agentBinary = agentBinary
    }

    func step(_ text: String) {
        say("\n==> \(text)")
    }

    /// Prints a line at once (unbuffered), so progress shows while the demo runs.
    func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    func run(durationMillis: Int64, flushMillis: Int64) async throws {
        let hubDir = dir + "/hub"
        let apiPort = try FreePort.next(), ingestPort = try FreePort.next()

        step("kubehero-hub init --data-dir \(hubDir)")
        try runQuietly(hubBinary, ["init", "--data-dir", hubDir, "--api-url", "https://127.0.0.1:\(apiPort)", "--log-level", "warning"])
        say("CA, server certificate, SQLite database and admin token created")

        step("kubehero-hub serve (REST API https://127.0.0.1:\(apiPort), mTLS ingest 127.0.0.1:\(ingestPort))")
        hub = try spawn(hubBinary, ["serve", "--data-dir", hubDir, "--api-listen", "127.0.0.1:\(apiPort)",
                                    "--ingest-listen", "127.0.0.1:\(ingestPort)", "--log-level", "warning"], log: dir + "/hub.log")
        let config = try CLIConfig.resolve(flags: .init(config: hubDir + "/admin.yaml"), environment: [:]) { path in
            try? String(contentsOfFile: path, encoding: .utf8)
        }
        let client = try HubClient(config: config)
        do {
            try await waitForHub(client)

            step("kubehero cluster add --name demo --cloud aws --region us-east-1 --label env=demo")
            let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "demo")
            let response = try await client.createCluster(CreateClusterRequest(name: "demo", cloud: .aws, region: "us-east-1", labels: ["env": "demo"], csr: csr))
            let bundle = try ClusterBundle(certificatePEM: response.certificate, privateKeyPEM: key, caCertificatePEM: response.caCertificate)
            let bundlePath = dir + "/demo-cert.pem"
            try BundleFile.write(bundle, to: bundlePath, force: true)
            say("cluster certificate \(response.cluster.certificateSerial) written with its key to \(bundlePath)")

            let mounts = try CgroupMounts.load()
            guard let v2 = mounts.v2 else { throw CLIError("no cgroup v2 hierarchy is mounted; the demo agent samples cgroup v2") }
            let match: String
            if getuid() == 0 {
                let group = "kubehero-demo-\(UUID().uuidString.prefix(8).lowercased())"
                step("starting demo workloads in their own cgroups (NAMESPACE/POD/CONTAINER) under \(v2.mountPoint)/\(group)")
                try startWorkloads(group: group, v2: v2.mountPoint, memory: mounts.v1Mount(for: "memory")?.mountPoint)
                match = "\(group)/*/*/*"
            } else {
                step("not root: sampling this machine's own service cgroups (system.slice/*) instead of demo workloads")
                match = "system.slice/*"
            }

            step("kubehero-agent run --match '\(match)' --flush-interval \(DurationText.format(millis: flushMillis)) (sampling every second)")
            agent = try spawn(agentBinary, [
                "run", "--hub", "127.0.0.1:\(ingestPort)", "--cert", bundlePath, "--node", "demo-node",
                "--cgroup-root", v2.mountPoint, "--match", match,
                "--node-label", "node.kubernetes.io/instance-type=m5.xlarge", "--node-label", "topology.kubernetes.io/region=us-east-1",
                "--flush-interval", DurationText.format(millis: flushMillis), "--tick", "1s",
                "--log-format", "text", "--log-level", "warning", "--health-listen", "off",
            ], log: dir + "/agent.log")
            var waited: Int64 = 0
            while waited < durationMillis {
                try await Task.sleep(for: .seconds(5))
                waited += 5000
                guard agent?.isRunning == true else { throw CLIError("the agent stopped; see \(dir)/agent.log") }
                let clusters = try await client.listClusters()
                say("  \(waited / 1000)s of \(durationMillis / 1000)s: last batch at the hub \(clusters.first?.lastBatchAt ?? "none yet")")
            }
            step("stopping the agent (it flushes its open batch on SIGTERM)")
            agent?.terminate()
            agent?.waitUntilExit()
            agent = nil

            step("kubehero cost --window 1h --aggregate namespace")
            let costs = try await client.costs(HubClient.CostsQuery(window: "1h", aggregate: "namespace"))
            say(Tables.costs(costs))
            // The most expensive workload container (not the node's idle share).
            if let top = try await client.costs(HubClient.CostsQuery(window: "1h", aggregate: "container")).steps.first?.groups.first(where: { !$0.name.hasPrefix("__idle__") }) {
                let parts = top.name.split(separator: "/").map(String.init)
                if parts.count == 3 {
                    step("kubehero series --window 10m --step 1m --namespace \(parts[0]) --pod \(parts[1]) --container \(parts[2])")
                    let series = try await client.series(HubClient.SeriesQuery(window: "10m", step: "1m", filter: RowFilter(namespace: parts[0], pod: parts[1], container: parts[2])))
                    say(Tables.series(series))
                }
            }

            step("kubehero audit list; kubehero audit verify --key \(hubDir)/audit-log.pub")
            let audit = try await client.auditEntries(HubClient.AuditEntriesQuery(limit: 50))
            say(AuditEntryView.table(audit.entries.map { AuditEntryView($0.entry, leafHash: $0.recordedLeafHash) }))
            // A checkpoint is signed within a second of the last entry.
            var snapshot = try await client.auditSnapshot()
            for _ in 0..<20 where (snapshot.checkpoints.last?.size ?? 0) < UInt64(snapshot.entries.count) {
                try await Task.sleep(for: .milliseconds(250))
                snapshot = try await client.auditSnapshot()
            }
            let keys = try loadVerifierKeys([hubDir + "/audit-log.pub"])
            let inputs = snapshot.entries.map { AuditVerifier.Input(recordedLeafHash: $0.recordedLeafHash, bytes: $0.entry.bytes) }
            switch AuditVerifier(keys: keys).verify(entries: inputs, checkpointNotes: snapshot.checkpoints.map(\.note)) {
            case .success(let v):
                say("audit log verified: \(v.entries) entries, \(v.checkpoints) signed checkpoints, tree size \(v.verifiedSize), root \(v.verifiedRoot.hex.prefix(16))...")
            case .failure(let problem):
                throw CLIError("the demo's audit log does not verify: \(problem)")
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        step("where the data lives")
        say("""
            hub data dir:    \(hubDir)  (SQLite database hub.sqlite, CA ca.pem)
            CLI config:      \(hubDir)/admin.yaml   (export KUBEHERO_CONFIG=\(hubDir)/admin.yaml)
            cluster bundle:  \(dir)/demo-cert.pem
            logs:            \(dir)/hub.log, \(dir)/agent.log
            The hub and the demo workloads are stopped now; remove \(dir) when done.
            """)
    }

    /// Demo workloads: pods in three namespaces with different CPU and memory use.
    func startWorkloads(group: String, v2: String, memory: String?) throws {
        let specs: [(path: String, what: String, script: String)] = [
            ("payments/api-7d9f/api", "busy about half the time", "while :; do i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; sleep 0.1; done"),
            ("payments/worker-0/worker", "holds 60 MB, idle", "x=$(head -c 60000000 /dev/zero | tr '\\000' a); sleep 3600"),
            ("search/indexer-0/indexer", "one full core", "while :; do :; done"),
            ("ml-training/trainer-0/trainer", "holds 150 MB, light CPU", "x=$(head -c 150000000 /dev/zero | tr '\\000' a); while :; do sleep 0.2; i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; done"),
        ]
        for w in specs {
            var procs: [String] = []
            for root in [v2] + (memory.map { [$0] } ?? []) {
                let path = "\(root)/\(group)/\(w.path)"
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                cgroupDirs.append(path)
                procs.append(path + "/cgroup.procs")
            }
            let enter = procs.map { "echo $$ > \($0)" }.joined(separator: "; ")
            workloads.append(try spawn("/bin/sh", ["-c", "\(enter); exec /bin/sh -c \"$0\"", w.script], log: nil))
            say("  \(w.path): \(w.what)")
        }
        // The parents too (pods, namespaces, the group); removal goes deepest first.
        for root in [v2] + (memory.map { [$0] } ?? []) {
            for w in specs {
                let parts = w.path.split(separator: "/")
                cgroupDirs.append("\(root)/\(group)/\(parts[0])/\(parts[1])")
                cgroupDirs.append("\(root)/\(group)/\(parts[0])")
            }
            cgroupDirs.append("\(root)/\(group)")
        }
        cgroupDirs = Array(Set(cgroupDirs))
    }

    func waitForHub(_ client: HubClient) async throws {
        for _ in 0..<100 {
            if (try? await client.listClusters()) != nil { return }
            guard hub?.isRunning == true else { throw CLIError("the hub stopped; see \(dir)/hub.log") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("the hub did not answer within 10 s; see \(dir)/hub.log")
    }

    func stopAll() {
        // Children inherit this process's blocked SIGTERM: the hub and agent handle it (they
        // watch for it explicitly), plain shell workloads would not, so they get SIGKILL.
        // Foundation's waitUntilExit can spin forever on a SIGKILLed child here, so workloads
        // are not waited for through it: their cgroups are emptied and removed below instead.
        for p in workloads where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in [agent, hub].compactMap({ $0 }) where p.isRunning { p.terminate() }
        for p in [agent, hub].compactMap({ $0 }) { p.waitUntilExit() }
        // Shell workloads' children (sleep) may linger in the cgroup: kill what is left.
        for d in cgroupDirs {
            if let procs = try? String(contentsOfFile: d + "/cgroup.procs", encoding: .utf8) {
                for pid in procs.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
        }
        for d in cgroupDirs.sorted(by: { $0.count > $1.count }) {
            for _ in 0..<150 where rmdir(d) != 0 && errno == EBUSY { usleep(20_000) }
        }
    }

    func spawn(_ binary: String, _ arguments: [String], log: String?) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            p.standardOutput = handle
            p.standardError = handle
        } else {
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    func runQuietly(_ binary: String, _ arguments: [String]) throws {
        let p = try spawn(binary, arguments, log: dir + "/init.log")
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw CLIError("\(binary) \(arguments.first ?? "") failed; see \(dir)/init.log") }
    }
}

/// A loopback port the kernel just handed out (bound, then released). Also used by the
/// benchmarks.
public enum FreePort {
    public static func next() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw CLIError("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
