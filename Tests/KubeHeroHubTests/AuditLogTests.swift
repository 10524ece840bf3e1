import ArgumentParser
import Foundation
import KubeHeroAudit
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroIngestClient
import KubeHeroPKI
@testable import KubeHeroStoreSQLite
import KubeHeroTestSupport
import KubeHeroWire
import Testing

/// The audit log end to end: a real hub records what is done through the REST API and the
/// ingest, signs checkpoints, and the CLI exports, forwards and verifies it.
@Suite("Audit log end to end") struct AuditLogTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-audit-\(UUID().uuidString)").path
    }

    /// Waits (bounded) until a checkpoint covers the whole log.
    func waitForCheckpoint(_ client: HubClient) async throws -> AuditCheckpointInfo {
        for _ in 0..<100 {
            let size = try await client.auditEntries(.init(limit: 1, newestFirst: true)).treeSize
            if let latest = try await client.auditCheckpoints(fromSize: size, limit: 1).first { return latest }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("no checkpoint covered the log within 10 s")
    }

    func run<C: AsyncParsableCommand>(_ type: C.Type, _ arguments: [String]) async throws {
        var command = try type.parse(arguments)
        try await command.run()
    }

    @Test func actionsAreRecordedSignedAndVerifiableOfflineAndTamperingIsFound() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("prod", labels: ["env": "prod"])
            // An agent reports a gap: recorded with the batch.
            var batch = minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: [
                steadyContainer(cgroupID: 1, namespace: "shop", pod: "web-1", cpuNanosPerTick: 1_000_000, memoryBytes: 1 << 20, cpuRequestMillicores: 100, memoryRequestBytes: 1 << 20),
            ])
            batch.droppedTicks = 7
            let gapBatch = batch
            _ = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { try await $0.sendAndWait(gapBatch) }
            let (created, page) = try await hub.withClient { client in
                let (_, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "prod")
                _ = try await client.rotateCertificate("prod", RotateCertificateRequest(csr: csr))
                let created = try await client.createToken(name: "grafana", role: "viewer")
                try await client.revokeToken(id: created.token.id)
                return (created, try await client.auditEntries(.init()))
            }
            _ = try await hub.withClient { try await $0.removeCluster("prod") }

            let entries = try await hub.withClient { try await $0.auditEntries(.init()) }.entries.map(\.entry)
            #expect(entries.map(\.action.rawValue) == [
                "hub.init", "token.create", "hub.config", "pricing.import", "cluster.register", "certificate.issue", "agent.gap", "certificate.rotate",
                "certificate.revoke", "token.create", "token.revoke", "cluster.remove", "certificate.revoke",
            ])
            #expect(page.entries.count == 11)
            #expect(entries.map(\.index) == Array(0..<UInt64(entries.count)))
            let tokenEntry = try #require(entries.first { $0.subject == "token/\(created.token.id)" })
            #expect(tokenEntry.actor.description.hasPrefix("token:"))
            #expect(tokenEntry.details["secretHMAC"]?.stringValue?.count == 64)
            let everything = entries.map { String(decoding: $0.bytes, as: UTF8.self) }.joined()
            #expect(!everything.contains(created.secret), "a token secret appears in the audit log")
            #expect(!everything.contains(hub.adminToken), "the admin token appears in the audit log")
            let gap = try #require(entries.first { $0.action == .agentGap })
            #expect(gap.actor == .cluster("prod"))
            #expect(gap.details["droppedTicks"] == .int(7))

            // Proofs from the API against the signed checkpoint.
            try await hub.withClient { client in
                let checkpoint = try await waitForCheckpoint(client)
                let note = try SignedNote(parsing: checkpoint.note)
                let keys = try loadVerifierKeys([hub.dataDir + "/audit-log.pub"])
                #expect(note.verify(with: keys) == .verified(keys[0]))
                let signed = try Checkpoint(parsing: note.text)
                for index: UInt64 in [0, 3, signed.size - 1] {
                    let proof = try await client.auditInclusionProof(index: index, size: signed.size)
                    #expect(Merkle.verifyInclusion(
                        leaf: Merkle.leafHash(entries[Int(index)].bytes), index: index, size: signed.size,
                        proof: proof.hashes.map { TreeHash(hex: $0)! }, root: signed.root
                    ), "inclusion of \(index) in \(signed.size)")
                }
                let older = try #require(try await client.auditCheckpoints(fromSize: 0, limit: 1).first)
                let oldRoot = try Checkpoint(parsing: SignedNote(parsing: older.note).text).root
                let consistency = try await client.auditConsistencyProof(from: older.size, to: signed.size)
                #expect(Merkle.verifyConsistency(oldSize: older.size, newSize: signed.size, oldRoot: oldRoot, newRoot: signed.root, proof: consistency.hashes.map { TreeHash(hex: $0)! }))
                let metrics = try await client.raw(method: "GET", path: "/metrics")
                #expect(metrics.body.contains("kubehero_audit_entries \(entries.count)"))
                #expect(metrics.body.contains("kubehero_audit_integrity_ok 1"))
                let bad = try await client.raw(method: "GET", path: "/v1/audit/proof/inclusion?index=5&size=999999")
                #expect(bad.status == 400 && bad.body.contains("larger than the log"))
            }

            // Export, verify offline with the key from the data dir, then tamper.
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let connection = ["--hub", hub.apiURL, "--token", hub.adminToken, "--ca-file", hub.caFile]
            try await run(AuditExportCommand.self, connection + ["--to", dir])
            try await run(AuditVerifyCommand.self, ["--dir", dir, "--key", hub.dataDir + "/audit-log.pub"])
            try await run(AuditVerifyCommand.self, connection)

            let path = dir + "/entries.jsonl"
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let lineStarts = [0] + bytes.indices.filter { bytes[$0] == 0x0A }.map { $0 + 1 }
            let target = lineStarts[4] + 100  // inside entry 4 (cluster.register)
            bytes[target] = bytes[target] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                try await run(AuditVerifyCommand.self, ["--dir", dir, "--key", hub.dataDir + "/audit-log.pub"])
                Issue.record("a tampered export verified")
            } catch let error as CLIError {
                #expect(error.message.contains("index 4: "), "\(error.message)")
            }
            // A foreign key is not trusted.
            let foreign = try LogSigner.generate(name: "someone-else").verifierKey.description
            await #expect(throws: CLIError.self) { try await run(AuditVerifyCommand.self, ["--dir", dir, "--key", foreign]) }
        }
    }

    @Test func forwardingResumesAcrossRestartsAndKeyRotationsAndStaysVerifiable() async throws {
        let (dataDir, adminToken) = try await TestHub.makeDataDir()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let out = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let pub = dataDir + "/audit-log.pub"

        @Sendable func forwardOnce(_ hub: TestHub) async throws {
            try await hub.withClient { client in _ = try await waitForCheckpoint(client) }
            try await run(AuditForwardCommand.self, ["--hub", hub.apiURL, "--token", adminToken, "--ca-file", hub.caFile, "--dir", out, "--once"])
        }

        try await withTestHub(dataDir: (dataDir, adminToken), keepDataDir: true) { hub in
            _ = try await hub.registerCluster("a")
            try await forwardOnce(hub)
            _ = try await hub.registerCluster("b")
            try await forwardOnce(hub)
        }
        try await run(AuditVerifyCommand.self, ["--dir", out, "--key", pub])
        let firstCount = try String(contentsOfFile: out + "/entries.jsonl", encoding: .utf8).split(separator: "\n").count
        #expect(firstCount == 8)  // init, admin token, config, first price version, 2 x (register, issue)

        // A torn append (forwarder killed mid-write) is cut off on resume.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out + "/entries.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"leafHash\":\"00".utf8))
        try handle.close()

        // Rotate the log key while the hub is down; the next run signs with the new key.
        let rotated = try await HubDataDir.rotateLogKey(path: dataDir, logger: quietLogger)
        #expect(rotated.old != rotated.new)
        try await withTestHub(dataDir: (dataDir, adminToken), keepDataDir: true) { hub in
            _ = try await hub.registerCluster("c")
            try await forwardOnce(hub)
        }
        try await run(AuditVerifyCommand.self, ["--dir", out, "--key", pub])
        let lines = try String(contentsOfFile: out + "/entries.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == firstCount + 4)  // key rotation, config (new key), register, issue
        // Old checkpoints still verify with the old key alone only up to the rotation.
        do {
            try await run(AuditVerifyCommand.self, ["--dir", out, "--key", rotated.old.description])
            Issue.record("checkpoints signed by the new key verified with the old key only")
        } catch let error as CLIError {
            #expect(error.message.contains("unknown key"), "\(error.message)")
        }
    }
}

/// Fail closed through the REST API: while the audit log cannot be written, registering a
/// cluster and creating a token are refused with an error, and nothing of them is stored.
@Suite("Audit log fails closed") struct AuditFailClosedAPITests {
    @Test func registrationAndTokenCreationAreRefusedWhileTheAuditLogIsUnwritable() async throws {
        try await withTestHub { hub in
            // A second connection to the hub's database (WAL allows it) makes audit inserts fail.
            let db = try SQLiteConnection(path: hub.dataDir + "/hub.sqlite")
            try db.setBusyTimeout(millis: 5000)
            try db.exec("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit store unwritable'); END;")
            let before = try await hub.withClient { try await $0.auditEntries(.init()).treeSize }

            await #expect(throws: (any Error).self) { _ = try await hub.registerCluster("prod") }
            try await hub.withClient { client in
                await #expect(throws: (any Error).self) { _ = try await client.createToken(name: "grafana", role: "viewer") }
                let clusters = try await client.listClusters()
                let tokens = try await client.listTokens()
                let size = try await client.auditEntries(.init()).treeSize
                #expect(clusters.isEmpty)
                #expect(tokens.count == 1)  // the admin token only
                #expect(size == before)
            }

            try db.exec("DROP TRIGGER audit_down")
            db.close()
            _ = try await hub.registerCluster("prod")
            try await hub.withClient { client in
                let names = try await client.listClusters().map(\.name)
                let size = try await client.auditEntries(.init()).treeSize
                #expect(names == ["prod"])
                #expect(size == before + 2)
            }
        }
    }
}

/// The hub's own check at start: stored leaf hashes that disagree with its newest checkpoint
/// stop all further signing (a new checkpoint would fork the log), and /metrics says so.
@Suite("Audit log integrity at start") struct AuditIntegrityAtStartTests {
    @Test func aTamperedLeafStopsCheckpointSigning() async throws {
        let (dataDir, adminToken) = try await TestHub.makeDataDir()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let signedSize = try await withTestHub(dataDir: (dataDir, adminToken), keepDataDir: true) { hub in
            _ = try await hub.registerCluster("prod")
            return try await hub.withClient { client in
                for _ in 0..<100 {
                    let size = try await client.auditEntries(.init(limit: 1, newestFirst: true)).treeSize
                    if try await client.auditCheckpoints(fromSize: size, limit: 1).first != nil { return size }
                    try await Task.sleep(for: .milliseconds(100))
                }
                throw CLIError("no checkpoint within 10 s")
            }
        }
        // Someone with the database rewrites a leaf hash (the append-only trigger dropped first).
        let db = try SQLiteConnection(path: dataDir + "/hub.sqlite")
        try db.exec("DROP TRIGGER audit_entries_append_only_update")
        try db.exec("UPDATE audit_entries SET leaf = zeroblob(32) WHERE idx = 4")
        db.close()

        try await withTestHub(dataDir: (dataDir, adminToken), keepDataDir: true) { hub in
            _ = try await hub.registerCluster("staging")
            try await Task.sleep(for: .milliseconds(1500))  // three signing intervals
            try await hub.withClient { client in
                let metrics = try await client.raw(method: "GET", path: "/metrics").body
                let newest = try await client.auditCheckpoints(fromSize: signedSize + 1, limit: 10)
                let size = try await client.auditEntries(.init(limit: 1, newestFirst: true)).treeSize
                #expect(metrics.contains("kubehero_audit_integrity_ok 0"))
                #expect(newest.isEmpty, "a checkpoint was signed over tampered entries")
                #expect(size > signedSize)
            }
        }
    }
}
