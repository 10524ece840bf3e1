import Foundation
import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
@testable import KubeHeroStoreSQLite
import Testing

/// Fail closed: when the audit log cannot be written, the action it records does not happen.
@Suite struct AuditFailClosedTests {
    static let t0: Int64 = 1_790_000_000_000

    func withStore(_ body: (SQLiteStore, String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try await SQLiteStore.open(path: dir.path + "/hub.db")
        do {
            try await body(store, dir.path + "/hub.db")
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }

    func draft(_ action: AuditAction) -> [AuditDraft] {
        [AuditDraft(timeMillis: Self.t0, actor: .token("t1"), action: action, subject: "x")]
    }

    @Test func actionsAreRefusedAndNothingHalfHappensWhileTheAuditLogIsUnwritable() async throws {
        try await withStore { store, path in
            let cluster = ClusterRecord(name: "prod", cloud: .aws, region: "us-east-1", labels: [:], createdAtMillis: Self.t0)
            let cert = CertificateRecord(serialHex: "01", clusterName: "prod", notBeforeMillis: Self.t0, notAfterMillis: Self.t0 + 1, pem: "pem")
            try await store.createCluster(cluster, certificate: cert, audit: draft(.clusterRegister))

            // Make the audit table refuse every insert, as a full or broken audit store would.
            try await store.withWriter { session in
                try session.db.exec("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit store unwritable'); END;")
            }
            let dev = ClusterRecord(name: "dev", cloud: .aws, region: "us-east-1", labels: [:], createdAtMillis: Self.t0)
            await #expect(throws: StoreError.self) {
                try await store.createCluster(dev, certificate: CertificateRecord(serialHex: "02", clusterName: "dev", notBeforeMillis: Self.t0, notAfterMillis: Self.t0 + 1, pem: "pem"), audit: draft(.clusterRegister))
            }
            await #expect(throws: StoreError.self) {
                try await store.rotateCertificate(CertificateRecord(serialHex: "03", clusterName: "prod", notBeforeMillis: Self.t0, notAfterMillis: Self.t0 + 1, pem: "pem"), atMillis: Self.t0 + 1, audit: draft(.certificateRotate))
            }
            await #expect(throws: StoreError.self) { try await store.removeCluster(named: "prod", atMillis: Self.t0 + 2, audit: draft(.clusterRemove)) }
            await #expect(throws: StoreError.self) {
                try await store.createToken(TokenRecord(id: "t2", name: "x", role: .viewer, secretHashHex: "cd", createdAtMillis: Self.t0), audit: draft(.tokenCreate))
            }

            // Nothing of the refused actions happened.
            #expect(try await store.cluster(named: "dev") == nil)
            #expect(try await store.certificate(serialHex: "02") == nil)
            #expect(try await store.certificate(serialHex: "03") == nil)
            #expect(try await store.currentCertificate(cluster: "prod")?.serialHex == "01")
            #expect(try await store.cluster(named: "prod") != nil)
            #expect(try await store.listTokens().isEmpty)
            #expect(try await store.auditSize() == 1)

            // Once the audit store works again, so do the actions.
            try await store.withWriter { session in try session.db.exec("DROP TRIGGER audit_down") }
            try await store.createCluster(dev, certificate: CertificateRecord(serialHex: "02", clusterName: "dev", notBeforeMillis: Self.t0, notAfterMillis: Self.t0 + 1, pem: "pem"), audit: draft(.clusterRegister))
            #expect(try await store.auditSize() == 2)
            _ = path
        }
    }

    @Test func storedEntriesCannotBeUpdatedOrDeletedThroughTheDatabase() async throws {
        try await withStore { store, _ in
            _ = try await store.appendAudit(draft(.hubInit))
            await #expect(throws: (any Error).self) {
                try await store.withWriter { session in try session.db.exec("UPDATE audit_entries SET action = 'x'") }
            }
            await #expect(throws: (any Error).self) {
                try await store.withWriter { session in try session.db.exec("DELETE FROM audit_entries") }
            }
            #expect(try await store.auditEntries(matching: AuditQuery()).map(\.action) == [.hubInit])
        }
    }
}
