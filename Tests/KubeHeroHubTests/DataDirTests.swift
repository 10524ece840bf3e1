import Crypto
import Foundation
import KubeHeroAudit
import KubeHeroHub
import KubeHeroPKI
import KubeHeroStore
import KubeHeroStoreSQLite
import KubeHeroTestSupport
import Testing

/// `kubehero-hub init --pki-dir`: the Helm chart keeps the hub's CA in a Secret and makes the
/// rest of the data dir on the first start.
@Suite("Hub data dir")
struct DataDirTests {
    static func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-datadir-\(UUID().uuidString)").path
    }

    @Test("init --pki-dir keeps the given CA and server certificate, and the hub.init entry names that CA")
    func initWithGivenPKI() async throws {
        let pki = Self.temporaryPath()
        let dir = Self.temporaryPath()
        defer {
            try? FileManager.default.removeItem(atPath: pki)
            try? FileManager.default.removeItem(atPath: dir)
        }
        _ = try await HubDataDir.initialize(path: pki, serverNames: ["hub.example.com", "10.0.0.7"], apiURL: "https://127.0.0.1:0", logger: quietLogger)

        let result = try await HubDataDir.initialize(path: dir, serverNames: [], apiURL: "https://hub.example.com", pkiDir: pki, logger: quietLogger)

        for file in ["ca.pem", "ca-key.pem", "server.pem", "server-key.pem"] {
            #expect(FileManager.default.contents(atPath: "\(dir)/\(file)") == FileManager.default.contents(atPath: "\(pki)/\(file)"), "\(file)")
        }
        #expect(result.serverNames == ["hub.example.com", "10.0.0.7"])
        let store = try await SQLiteStore.open(path: "\(dir)/hub.sqlite", logger: quietLogger)
        let entries = try await store.auditEntries(matching: AuditQuery(action: AuditAction.hubInit.rawValue))
        try await store.close()
        let ca = try #require(FileManager.default.contents(atPath: "\(pki)/ca.pem"))
        #expect(entries.count == 1)
        #expect(entries.first?.draft.details["caCertificateSHA256"] == .string(Hex.encode(SHA256.hash(data: Array(ca)))))
    }

    @Test("init --pki-dir refuses a server certificate from another CA, naming the file")
    func initRefusesForeignServerCertificate() async throws {
        let first = Self.temporaryPath()
        let second = Self.temporaryPath()
        let dir = Self.temporaryPath()
        defer { for path in [first, second, dir] { try? FileManager.default.removeItem(atPath: path) } }
        _ = try await HubDataDir.initialize(path: first, serverNames: [], apiURL: "https://127.0.0.1:0", logger: quietLogger)
        _ = try await HubDataDir.initialize(path: second, serverNames: [], apiURL: "https://127.0.0.1:0", logger: quietLogger)
        try FileManager.default.removeItem(atPath: "\(first)/server.pem")
        try FileManager.default.copyItem(atPath: "\(second)/server.pem", toPath: "\(first)/server.pem")

        let error = await #expect(throws: HubDataDir.Error.self) {
            _ = try await HubDataDir.initialize(path: dir, serverNames: [], apiURL: "https://127.0.0.1:0", pkiDir: first, logger: quietLogger)
        }
        #expect(error?.description.contains("\(first)/server.pem:") == true && error?.description.contains("was not signed by the CA") == true, "\(String(describing: error))")
    }
}
