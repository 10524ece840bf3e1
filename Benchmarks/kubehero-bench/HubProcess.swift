import ArgumentParser
import Foundation
import KubeHeroCLI
import KubeHeroCore
import KubeHeroPKI

/// A `kubehero-hub` child process on a temporary data dir.
final class HubProcess {
    let dataDir: String
    let process: Process
    let api: HostPort
    let ingest: HostPort
    let adminToken: String

    private init(dataDir: String, process: Process, api: HostPort, ingest: HostPort, adminToken: String) {
        self.dataDir = dataDir
        self.process = process
        self.api = api
        self.ingest = ingest
        self.adminToken = adminToken
    }

    static func start(binary: String) async throws -> HubProcess {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-bench-\(UUID().uuidString)").path
        print("starting hub: \(binary) (data dir \(dir))")
        let initOut = try runToCompletion(binary, ["init", "--data-dir", dir, "--log-level", "warning"])
        guard let tokenLine = initOut.split(separator: "\n").first(where: { $0.contains("admin token:") }),
              let token = tokenLine.split(separator: " ").last
        else { throw ValidationError("kubehero-hub init printed no admin token:\n\(initOut)") }

        let apiPort = try freePort(), ingestPort = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data-dir", dir, "--api-listen", "127.0.0.1:\(apiPort)", "--ingest-listen", "127.0.0.1:\(ingestPort)", "--log-level", "warning"]
        try process.run()
        let hub = HubProcess(
            dataDir: dir, process: process, api: HostPort(host: "127.0.0.1", port: apiPort),
            ingest: HostPort(host: "127.0.0.1", port: ingestPort), adminToken: String(token)
        )
        // Wait until the API answers.
        let client = try hub.client()
        var up = false
        for _ in 0..<100 where !up && process.isRunning {
            up = (try? await client.listClusters()) != nil
            if !up { try? await Task.sleep(for: .milliseconds(100)) }
        }
        try await client.shutdown()
        if !up {
            hub.stop()
            throw ValidationError("hub did not start")
        }
        return hub
    }

    /// A REST client with the admin token; call `shutdown()` on it when done.
    func client() throws -> HubClient {
        try HubClient(baseURL: "https://\(api.host):\(api.port)", token: adminToken, caFile: dataDir + "/ca.pem")
    }

    func registerCluster(name: String) async throws -> ClusterBundle {
        let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: name)
        let client = try client()
        let response: ClusterCertificateResponse
        do {
            response = try await client.createCluster(CreateClusterRequest(name: name, cloud: .aws, region: "us-east-1", csr: csr))
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        return try ClusterBundle(certificatePEM: response.certificate, privateKeyPEM: key, caCertificatePEM: response.caCertificate)
    }

    /// VmHWM of the hub process, KiB.
    func peakRSSKiB() -> Int {
        ProcStatus.kibibytes("VmHWM", pid: process.processIdentifier) ?? 0
    }

    /// Stops the hub where it stands (SIGSTOP): its sockets stay open, it answers nothing until
    /// `resume()`. `stop()` resumes it first.
    func pause() {
        kill(process.processIdentifier, SIGSTOP)
    }

    func resume() {
        kill(process.processIdentifier, SIGCONT)
    }

    func stop() {
        resume()
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    static func runToCompletion(_ binary: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("\(binary) \(arguments.joined(separator: " ")) failed with \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// A port the kernel just handed out for 127.0.0.1 (bound, then released).
    static func freePort() throws -> Int { try FreePort.next() }
}
