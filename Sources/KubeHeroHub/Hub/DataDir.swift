import KubeHeroAudit
import KubeHeroCore
import KubeHeroPKI
import KubeHeroStore
import KubeHeroStoreSQLite
import Logging
import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The hub's data directory: CA, server certificate, the SQLite database and a CLI config for
/// the admin. Made once by `kubehero-hub init`; `serve` reads it.
///
/// ```
/// DIR/ca.pem            hub CA certificate (give it to CLI users)
/// DIR/ca-key.pem        hub CA private key (0600)
/// DIR/server.pem        the hub's TLS certificate (API and ingest)
/// DIR/server-key.pem    its key (0600)
/// DIR/hub.sqlite        the embedded store (+ -wal, -shm)
/// DIR/admin.yaml        CLI config with the admin token (0600)
/// DIR/audit-log.key     the audit log's Ed25519 signing key (0600)
/// DIR/audit-log.pub     the audit log's verifier keys, current last (give them to auditors)
/// DIR/audit-hmac.key    key of the keyed hashes of token secrets in the log (0600)
/// ```
public struct HubDataDir: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var caCertificate: String { path + "/ca.pem" }
    public var caKey: String { path + "/ca-key.pem" }
    public var serverCertificate: String { path + "/server.pem" }
    public var serverKey: String { path + "/server-key.pem" }
    public var database: String { path + "/hub.sqlite" }
    public var adminConfig: String { path + "/admin.yaml" }

    public struct InitResult: Sendable {
        public var adminToken: String
        public var adminConfigPath: String
        public var caCertificatePath: String
        public var serverNames: [String]
    }

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates the CA, the server certificate (for `serverNames`: DNS names or IP addresses),
    /// the database and an admin token. Refuses a directory that already holds anything.
    ///
    /// With `pkiDir`, the CA and server certificate are taken from that directory (`ca.pem`,
    /// `ca-key.pem`, `server.pem`, `server-key.pem`, e.g. a mounted Kubernetes Secret) instead of
    /// being made, so that the `hub.init` audit entry names the CA the hub will really use;
    /// `serverNames` are then the server certificate's own.
    public static func initialize(
        path: String, serverNames: [String], apiURL: String, database: HubDatabase = .sqlite, pkiDir: String? = nil,
        now: Date = Date(), logger: Logger
    ) async throws -> InitResult {
        let given = try pkiDir.map(GivenPKI.init(directory:))
        if given != nil && !serverNames.isEmpty {
            throw Error(description: "--server-name and --pki-dir exclude each other: the server certificate in the PKI dir already names the hub")
        }
        let dir = HubDataDir(path: path)
        if FileManager.default.fileExists(atPath: path) {
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? ["?"]
            if !contents.isEmpty {
                throw Error(description: "data dir \(path) is not empty (holds \(contents.sorted().prefix(3).joined(separator: ", "))); refusing to overwrite an existing hub")
            }
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        chmod(path, 0o700)

        var names = serverNames
        let ca: CertificateAuthority
        let server: (certificatePEM: String, privateKeyPEM: String)
        if let given {
            ca = given.ca
            server = (given.serverCertificatePEM, given.serverKeyPEM)
            names = given.serverNames
        } else {
            if names.isEmpty { names = ["localhost", "127.0.0.1", "::1"] }
            ca = try CertificateAuthority.create(now: now)
            let issued = try ca.issueServerCertificate(dnsNames: names.filter { !isIPAddress($0) }, ipAddresses: names.filter(isIPAddress), now: now)
            server = (issued.certificatePEM, issued.privateKeyPEM)
        }
        try write(ca.certificatePEM, to: dir.caCertificate, mode: 0o644)
        try write(ca.privateKeyPEM, to: dir.caKey, mode: 0o600)
        try write(server.certificatePEM, to: dir.serverCertificate, mode: 0o644)
        try write(server.privateKeyPEM, to: dir.serverKey, mode: 0o600)

        let keys = try AuditKeys.create(in: path)
        let store = try await database.open(dataDir: dir, logger: logger)
        if !database.isSQLite, try await store.auditSize() > 0 {
            try? await store.close()
            throw Error(description: "the database \(database) already holds a hub's state; a new data dir needs an empty database (replicas share one data dir: copy it instead of running init again)")
        }
        let (id, secret) = APIToken.generate()
        let nowMillis = Int64(now.timeIntervalSince1970 * 1000)
        let audit = AuditLog(store: store, keys: keys, logger: logger)
        let token = TokenRecord(id: id, name: "admin", role: .admin, secretHashHex: APIToken.hash(secret), createdAtMillis: nowMillis)
        do {
            try await store.createToken(token, audit: [
                AuditDraft(timeMillis: nowMillis, actor: .hub, action: .hubInit, subject: "hub", details: [
                    "serverNames": .array(names.map { .string($0) }), "apiURL": .string(apiURL),
                    "caCertificateSHA256": .string(Hex.encode(SHA256.hash(data: Array(ca.certificatePEM.utf8)))),
                    "logKey": .string(keys.signer.verifierKey.description),
                ]),
                AuditLog.tokenCreated(token, secretHash: audit.keyedHash(secret), actor: .hub, at: nowMillis),
            ])
            try await audit.signCheckpointIfNeeded(nowMillis: nowMillis)
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
        let config = """
            # kubehero CLI configuration for the admin of this hub. Use it with
            #   export KUBEHERO_CONFIG=\(dir.adminConfig)
            hub: \(apiURL)
            token: \(secret)
            caFile: \(dir.caCertificate)

            """
        try write(config, to: dir.adminConfig, mode: 0o600)
        return InitResult(adminToken: secret, adminConfigPath: dir.adminConfig, caCertificatePath: dir.caCertificate, serverNames: names)
    }

    /// Replaces the audit log's signing key (`kubehero-hub rotate-log-key`; the hub should be
    /// stopped). The `audit.key.rotate` entry is appended first: if it cannot be written, the
    /// key does not change.
    public static func rotateLogKey(path: String, database: HubDatabase = .sqlite, now: Date = Date(), logger: Logger) async throws -> (old: LogVerifierKey, new: LogVerifierKey) {
        let dir = HubDataDir(path: path)
        try dir.check(database: database)
        let current = try AuditKeys.load(from: path)
        let next = try LogSigner.generate(name: current.signer.name)
        let store = try await database.open(dataDir: dir, logger: logger)
        do {
            _ = try await store.appendAudit([AuditDraft(
                timeMillis: Int64(now.timeIntervalSince1970 * 1000), actor: .hub, action: .logKeyRotate, subject: "audit-log-key",
                details: ["old": .string(current.signer.verifierKey.description), "new": .string(next.verifierKey.description)]
            )])
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
        try AuditKeys.install(next, replacing: current, in: path)
        return (current.signer.verifierKey, next.verifierKey)
    }

    /// Checks that the directory was made by `init` and names what is missing (the SQLite file
    /// only when the state is kept there).
    public func check(database store: HubDatabase = .sqlite) throws {
        let files = [caCertificate, caKey, serverCertificate, serverKey] + (store.isSQLite ? [database] : [])
            + [AuditKeys.signerPath(path), AuditKeys.verifiersPath(path), AuditKeys.hmacPath(path)]
        for file in files where !FileManager.default.fileExists(atPath: file) {
            throw Error(description: "\(file) is missing: is \(path) a hub data dir? Create one with `kubehero-hub init --data-dir \(path)`")
        }
    }

    /// A CA and server certificate made elsewhere (`init --pki-dir`), checked before use.
    struct GivenPKI {
        var ca: CertificateAuthority
        var serverCertificatePEM: String
        var serverKeyPEM: String
        var serverNames: [String]

        init(directory: String) throws {
            let files = HubDataDir(path: directory)
            ca = try CertificateAuthority(certificatePEM: try files.read(files.caCertificate), privateKeyPEM: try files.read(files.caKey))
            serverCertificatePEM = try files.read(files.serverCertificate)
            serverKeyPEM = try files.read(files.serverKey)
            do {
                serverNames = try ca.serverNames(ofIssued: serverCertificatePEM)
            } catch {
                throw Error(description: "\(files.serverCertificate): \(error)")
            }
        }
    }

    func read(_ file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Error(description: "cannot read \(file)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func write(_ text: String, to file: String, mode: mode_t) throws {
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: Int(mode)]) else {
            throw Error(description: "cannot write \(file)")
        }
        chmod(file, mode)
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }
}
