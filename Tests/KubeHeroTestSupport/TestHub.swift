import Foundation
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroIngestClient
import KubeHeroPKI
import Logging

/// Shared by the test targets (a library target, not a test target, so both can link it).
///
/// A real hub for a test: temp data dir made by `HubDataDir.initialize`, a real SQLite file,
/// the REST API over TLS and the ingest over mTLS, both on loopback ports the kernel picks.
public struct TestHub: Sendable {
    public let dataDir: String
    public let adminToken: String
    public let addresses: HubAddresses
    public let hub: Hub

    public var apiURL: String { "https://127.0.0.1:\(addresses.apiPort)" }
    public var caFile: String { dataDir + "/ca.pem" }

    /// A fresh data dir (deleted afterwards by `withTestHub`).
    public static func makeDataDir(database: HubDatabase = .sqlite) async throws -> (String, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-test-\(UUID().uuidString)").path
        let result = try await HubDataDir.initialize(path: dir, serverNames: [], apiURL: "https://127.0.0.1:0", database: database, logger: quietLogger)
        return (dir, result.adminToken)
    }

    public static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    public func client(token: String? = nil) throws -> HubClient {
        try HubClient(baseURL: apiURL, token: token ?? adminToken, caFile: caFile)
    }

    /// Registers a cluster through the REST API (key and CSR made here, like the CLI does).
    public func registerCluster(_ name: String, cloud: Cloud = .aws, region: String = "us-east-1", labels: [String: String] = [:]) async throws -> ClusterBundle {
        let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: name)
        let client = try client()
        do {
            let response = try await client.createCluster(CreateClusterRequest(name: name, cloud: cloud, region: region, labels: labels, csr: csr))
            try await client.shutdown()
            return try ClusterBundle(certificatePEM: response.certificate, privateKeyPEM: key, caCertificatePEM: response.caCertificate)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    public func ingestConfig(_ bundle: ClusterBundle) -> IngestClientConfiguration {
        IngestClientConfiguration(
            host: "127.0.0.1", port: addresses.ingestPort, certificatePEM: bundle.certificatePEM,
            privateKeyPEM: bundle.privateKeyPEM, caCertificatePEM: bundle.caCertificatePEM
        )
    }

    /// Runs `body` with a REST client, shutting it down either way.
    public func withClient<R>(token: String? = nil, _ body: (HubClient) async throws -> R) async throws -> R {
        let c = try client(token: token)
        do {
            let r = try await body(c)
            try await c.shutdown()
            return r
        } catch {
            try? await c.shutdown()
            throw error
        }
    }
}

public let quietLogger: Logger = {
    var l = Logger(label: "kubehero-test")
    l.logLevel = .error
    return l
}()

/// Runs a hub on `dataDir` (a new one if nil) for the duration of `body`, then shuts it down
/// gracefully. The data dir is removed afterwards unless `keepDataDir`.
public func withTestHub<R: Sendable>(
    dataDir existing: (String, String)? = nil, keepDataDir: Bool = false,
    now: (@Sendable () -> Int64)? = nil,
    database: HubDatabase = .sqlite, leaderLease: LeaderLease.Settings = LeaderLease.Settings(), replicaName: String? = nil,
    _ body: @Sendable (TestHub) async throws -> R
) async throws -> R {
    let (dir, token): (String, String)
    if let existing { (dir, token) = existing } else { (dir, token) = try await TestHub.makeDataDir(database: database) }
    var options = HubOptions(dataDir: dir)
    options.database = database
    options.leaderLease = leaderLease
    options.replicaName = replicaName
    options.apiHost = "127.0.0.1"
    options.apiPort = 0
    options.ingestHost = "127.0.0.1"
    options.ingestPort = 0
    options.pricingSource = TestHub.repositoryRoot + "/pricing"
    let hub: Hub
    if let now {
        hub = try await Hub.open(options: options, logger: quietLogger, now: now)
    } else {
        hub = try await Hub.open(options: options, logger: quietLogger)
    }
    defer { if !keepDataDir { try? FileManager.default.removeItem(atPath: dir) } }
    return try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask {
            try await hub.run()
            return nil
        }
        let addresses = await hub.addresses()
        let testHub = TestHub(dataDir: dir, adminToken: token, addresses: addresses, hub: hub)
        let result: R
        do {
            result = try await body(testHub)
        } catch {
            await hub.shutdown()
            try? await group.waitForAll()
            throw error
        }
        await hub.shutdown()
        try await group.waitForAll()
        return result
    }
}

/// A batch of one minute (60 ticks of 1 s) on an m5.large node in us-east-1.
public func minuteBatch(
    agent: String = "agent-1", sequence: UInt64, minuteStartMillis: Int64, node: String = "node-a",
    containers: [ContainerSamples]
) -> UsageBatch {
    UsageBatch(
        agentInstanceID: agent, sequence: sequence,
        node: NodeInfo(name: node, instanceType: "m5.large", region: "us-east-1", zone: "us-east-1a", capacityType: .onDemand,
                       cpuCapacityMillicores: 2000, memoryCapacityBytes: 8 << 30),
        windowStartUnixMillis: minuteStartMillis, tickMillis: 1000, tickCount: 60, containers: containers
    )
}

/// A container with the same CPU and memory in every one of 60 ticks.
public func steadyContainer(
    cgroupID: UInt64, namespace: String, pod: String, container: String = "app", labels: [String: String] = [:],
    cpuNanosPerTick: UInt64, memoryBytes: UInt64, cpuRequestMillicores: UInt32, memoryRequestBytes: UInt64,
    crossZoneBytesPerTick: UInt64 = 0
) -> ContainerSamples {
    ContainerSamples(
        cgroupID: cgroupID,
        identity: ContainerIdentity(namespace: namespace, pod: pod, container: container, labels: labels,
                                    cpuRequestMillicores: cpuRequestMillicores, memoryRequestBytes: memoryRequestBytes),
        cpuNanos: Array(repeating: cpuNanosPerTick, count: 60),
        memoryWorkingSetBytes: Array(repeating: memoryBytes, count: 60),
        networkEgressBytes: crossZoneBytesPerTick > 0 ? [.crossZone: Array(repeating: crossZoneBytesPerTick, count: 60)] : [:]
    )
}

/// The start of the minute two minutes ago: inside the default 24h window, and complete.
public func recentMinute() -> Int64 {
    (Int64(Date().timeIntervalSince1970 * 1000) / 60_000 - 2) * 60_000
}

/// Runs a built executable from the same build directory as the tests.
public func runProduct(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = try productProcess(name, arguments, environment: environment)
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Starts a built executable in the background, its output going to `logFile`; the caller
/// ends it (`kill(process.processIdentifier, SIGKILL)` for a crash).
public func startProduct(_ name: String, _ arguments: [String], logFile: String, environment: [String: String] = [:]) throws -> Process {
    let p = try productProcess(name, arguments, environment: environment)
    _ = FileManager.default.createFile(atPath: logFile, contents: nil)
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
    p.standardOutput = log
    p.standardError = log
    try p.run()
    return p
}

/// A process for a built executable from the same build directory as the tests, with the
/// CLI's environment variables of the test runner removed.
private func productProcess(_ name: String, _ arguments: [String], environment: [String: String]) throws -> Process {
    let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var candidates = [binDir.appendingPathComponent(name).path]
    // On Linux the test runner is inside .build/<config>/; on some setups one level deeper.
    candidates.append(binDir.deletingLastPathComponent().appendingPathComponent(name).path)
    candidates.append(TestHub.repositoryRoot + "/.build/debug/\(name)")
    guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw CLIError("\(name) is not built next to the tests (looked in \(candidates.joined(separator: ", "))); run swift build --build-tests")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for k in ["KUBEHERO_HUB", "KUBEHERO_TOKEN", "KUBEHERO_CA_FILE", "KUBEHERO_CONFIG"] { env.removeValue(forKey: k) }
    for (k, v) in environment { env[k] = v }
    p.environment = env
    return p
}

/// `runProduct` on a thread of its own, for async tests: the product (the CLI) may talk to a
/// hub running in this test process, which needs the cooperative threads `runProduct` would
/// otherwise block while it waits (two such tests at once would stall every hub until the
/// CLI's timeout).
public func runProductDetached(_ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runProduct(name, arguments, environment: environment) }) }.start()
    }
}
