// kubehero-bench: load generator and benchmarks.
//
//   kubehero-bench ingest                 # self-contained: starts a hub on a temp SQLite dir
//   kubehero-bench ingest --hub 127.0.0.1:9443 --cert prod-cert.pem   # push into a running hub
//
// See BENCHMARKS.md for the method and recorded figures.

import ArgumentParser
import Foundation
import KubeHeroCLI
import KubeHeroCore
import KubeHeroIngestClient
import KubeHeroPKI

@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubehero-bench",
        abstract: "KubeHero load generator and benchmarks.",
        subcommands: [Ingest.self, AgentOverhead.self, AuditBenchmark.self, BPFBenchmark.self, StoreBenchmark.self, PolicyBenchmark.self]
    )
}

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "N simulated agents stream batches over mTLS into a hub; prints container-samples/s end to end and the hub's peak RSS."
    )

    @Option(help: "Simulated agents (nodes), each on its own mTLS stream.")
    var agents = 32

    @Option(help: "Containers per node.")
    var containers = 100

    @Option(help: "Batches each agent sends in the timed run.")
    var batches = 20

    @Option(help: "Ticks per batch (1 s each).")
    var ticks = 60

    @Option(help: "Batches each agent may have unacknowledged at once.")
    var inFlight = 4

    @Option(help: "Push into a running hub's ingest HOST:PORT instead of starting one (needs --cert).")
    var hub: String?

    @Option(help: "Cluster bundle from `kubehero cluster add` (with --hub).")
    var cert: String?

    @Option(help: "kubehero-hub binary for the self-contained run (default: next to this binary).")
    var hubBinary: String?

    func run() async throws {
        let endpoint: HostPort
        let bundle: ClusterBundle
        var hubProcess: HubProcess?
        if let hub {
            guard let cert else { throw ValidationError("--hub needs --cert with a cluster bundle") }
            endpoint = try HostPort(parsing: hub, field: "--hub")
            bundle = try ClusterBundle(pemString: String(contentsOfFile: cert, encoding: .utf8))
        } else {
            let process = try await HubProcess.start(binary: hubBinary ?? Self.siblingBinary("kubehero-hub"))
            hubProcess = process
            endpoint = process.ingest
            bundle = try await process.registerCluster(name: "bench")
        }
        defer { hubProcess?.stop() }

        let config = IngestClientConfiguration(
            host: endpoint.host, port: endpoint.port, certificatePEM: bundle.certificatePEM,
            privateKeyPEM: bundle.privateKeyPEM, caCertificatePEM: bundle.caCertificatePEM
        )
        let nodes = (0..<agents).map { SyntheticNode(index: $0, containers: containers, ticksPerBatch: ticks) }
        // Windows end before now: the oldest batch starts (batches + 1) windows ago.
        let span = Int64(ticks) * 1000
        let nowMillis = Int64(Date().timeIntervalSince1970 * 1000)
        let firstStart = (nowMillis / 60_000) * 60_000 - Int64(batches + 2) * span
        let runID = UInt64(nowMillis)

        // Pre-build the batches so the timed part measures the hub, not the generator.
        print("generating \(agents * (batches + 1)) batches of \(containers) containers x \(ticks) ticks...")
        let perAgent: [[UsageBatch]] = nodes.map { node in
            (1...UInt64(batches + 1)).map { seq in
                var b = node.batch(sequence: seq, firstWindowStartMillis: firstStart)
                b.agentInstanceID = "\(node.agentInstanceID)-\(runID)"
                return b
            }
        }

        print("warm-up: 1 batch per agent")
        try await send(perAgent.map { [$0[0]] }, config: config, inFlight: 1)
        print("timed run: \(agents) agents x \(batches) batches, \(inFlight) in flight per agent")
        let clock = ContinuousClock()
        let start = clock.now
        let acked = try await send(perAgent.map { Array($0.dropFirst()) }, config: config, inFlight: inFlight)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let samples = agents * batches * containers * ticks
        print("")
        print("batches acknowledged:   \(acked) (expected \(agents * batches))")
        print("container-samples:      \(samples)")
        print("elapsed:                \(String(format: "%.2f", seconds)) s")
        print("throughput:             \(Int(Double(samples) / seconds)) container-samples/s end to end")
        if let hubProcess {
            print("hub peak RSS:           \(hubProcess.peakRSSKiB() / 1024) MiB")
        }
        if acked != agents * batches { throw ValidationError("only \(acked) of \(agents * batches) batches were acknowledged") }
    }

    /// Each agent's batches go over its own stream with up to `inFlight` unacknowledged;
    /// returns the number of fresh (non-duplicate) acknowledgements.
    @discardableResult
    func send(_ perAgent: [[UsageBatch]], config: IngestClientConfiguration, inFlight: Int) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for batches in perAgent {
                group.addTask {
                    try await withIngestStream(config, hello: (batches[0].agentInstanceID, batches[0].node.name)) { stream in
                        var next = 0
                        var outstanding = 0
                        var acked = 0
                        while next < batches.count && outstanding < inFlight {
                            stream.send(batches[next]); next += 1; outstanding += 1
                        }
                        for try await reply in stream.replies {
                            switch reply {
                            case .ack(_, _, let duplicate):
                                if !duplicate { acked += 1 }
                            case .reject(_, let seq, let field, let reason):
                                throw ValidationError("batch \(seq) rejected: \(field): \(reason)")
                            case .directive:
                                continue
                            }
                            outstanding -= 1
                            if next < batches.count {
                                stream.send(batches[next]); next += 1; outstanding += 1
                            } else if outstanding == 0 {
                                break
                            }
                        }
                        return acked
                    }
                }
            }
            return try await group.reduce(0, +)
        }
    }

    static func siblingBinary(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
