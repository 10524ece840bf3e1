import CSQLite
import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import Logging
import NIOPosix

/// The embedded `HubStore`: one SQLite file in WAL mode.
///
/// One writer connection takes every change in turn (SQLite allows one writer at a time
/// anyway); one reader connection answers queries concurrently with it, reading the last
/// committed state. Each call is one thread-pool job; an `ingest` of many batches is one job
/// and one transaction, committed with `synchronous=FULL` before it returns.
///
/// ```swift
/// let store = try await SQLiteStore.open(path: "/var/lib/kubehero/hub.db")
/// let outcomes = try await store.ingest(records)
/// try await store.close()
/// ```
public final class SQLiteStore: HubStore {
    /// The database file.
    public let path: String
    private let writer: SerialConnection<WriterSession>
    private let reader: SerialConnection<SQLiteConnection>
    private let logger: Logger

    /// The schema version this program creates and understands.
    public static var schemaVersion: Int { Schema.latestVersion }

    private init(path: String, writer: SerialConnection<WriterSession>, reader: SerialConnection<SQLiteConnection>, logger: Logger) {
        self.path = path
        self.writer = writer
        self.reader = reader
        self.logger = logger
    }

    /// Opens the database at `path`, creating it if needed, and brings its schema up to date.
    ///
    /// Throws `StoreError(.schema, ...)` for a database newer than this program or one that is
    /// not a KubeHero database, and `StoreError(.backend, ...)` naming `path` when the file
    /// cannot be opened or is not an SQLite database.
    public static func open(
        path: String,
        threadPool: NIOThreadPool = .singleton,
        logger: Logger = Logger(label: "kubehero.store.sqlite")
    ) async throws -> SQLiteStore {
        let closedMessage = "the SQLite store at \(path) is closed"
        do {
            let (writer, reader) = try await threadPool.runIfActive {
                // Writer first: it sets WAL mode and migrates before the reader looks at tables.
                let writer = try openWriter(path: path, logger: logger)
                let reader = try openReader(path: path)
                return (
                    SerialConnection(WriterSession(writer), threadPool: threadPool, closedMessage: closedMessage),
                    SerialConnection(reader, threadPool: threadPool, closedMessage: closedMessage)
                )
            }
            logger.debug("opened SQLite store", metadata: ["path": "\(path)", "schemaVersion": "\(Schema.latestVersion)"])
            return SQLiteStore(path: path, writer: writer, reader: reader, logger: logger)
        } catch let error as StoreError {
            throw error
        } catch let error as SQLiteError where error.primaryCode == SQLITE_CANTOPEN {
            throw StoreError(.backend, "cannot open the SQLite database at \(path): \(error); check that its directory exists and is writable")
        } catch {
            throw StoreError(.backend, "cannot open the SQLite database at \(path): \(error)")
        }
    }

    private static func openWriter(path: String, logger: Logger) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.setBusyTimeout(millis: 10_000)
        // The first statement that reads the file: a file that is not a database fails here.
        let mode = try db.queryFirst("PRAGMA journal_mode = WAL") { $0.text(at: 0) } ?? ""
        guard mode.lowercased() == "wal" else {
            throw StoreError(.backend, "cannot open the SQLite database at \(path): it cannot use WAL mode (journal mode is \"\(mode)\"); use a file on a local file system")
        }
        // A batch is acknowledged only once durable: fsync the WAL at every commit.
        try db.run("PRAGMA synchronous = FULL")
        try db.run("PRAGMA foreign_keys = ON")
        try db.run("PRAGMA cache_size = -32768")  // 32 MiB: the usage tables' upper index levels
        try Schema.migrate(db, logger: logger)
        return db
    }

    private static func openReader(path: String) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.setBusyTimeout(millis: 10_000)
        try db.run("PRAGMA query_only = ON")
        try db.run("PRAGMA cache_size = -32768")
        return db
    }

    /// Waits for running calls, then closes both connections (the writer last, so that SQLite
    /// checkpoints the WAL into the database file). Later calls throw `.backend`.
    public func close() async throws {
        do {
            try await reader.close { $0.close() }
            try await writer.close { session in
                _ = try? session.db.run("PRAGMA optimize")
                session.db.close()
            }
        } catch {
            throw storeError(error)
        }
        logger.debug("closed SQLite store", metadata: ["path": "\(path)"])
    }

    // MARK: Connections

    /// `body` with the writer, in one thread-pool job; no transaction of its own.
    func withWriter<T: Sendable>(_ body: @escaping @Sendable (WriterSession) throws -> T) async throws -> T {
        do {
            return try await writer.withSession(body)
        } catch {
            throw storeError(error)
        }
    }

    /// `body` in one write transaction: committed if it returns, rolled back if it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withWriter { session in
            try session.db.transaction(.immediate) { try body(session.db) }
        }
    }

    /// `body` with the reader. A single statement reads one consistent snapshot by itself.
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        do {
            return try await reader.withSession(body)
        } catch {
            throw storeError(error)
        }
    }

    /// What callers see: `StoreError` for everything the database did, naming the file.
    private func storeError(_ error: any Error) -> any Error {
        switch error {
        case is StoreError, is CancellationError:
            return error
        default:
            return StoreError(.backend, "SQLite database \(path): \(error)")
        }
    }

    // MARK: Clusters and certificates

    public func createCluster(_ cluster: ClusterRecord, certificate: CertificateRecord, audit: [AuditDraft]) async throws {
        try await write { db in
            if try Self.activeClusterID(db, name: cluster.name) != nil {
                throw StoreError(.conflict, "cluster \"\(cluster.name)\" already exists")
            }
            try Self.checkSerialIsFree(db, certificate.serialHex)
            let id = try db.queryFirst(
                """
                INSERT INTO clusters (name, cloud, region, labels_json, created_at, removed_at)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id
                """,
                [
                    .text(cluster.name), .text(cluster.cloud.rawValue), .text(cluster.region),
                    .text(LabelsJSON.encode(cluster.labels)), .integer(cluster.createdAtMillis), .integer(cluster.removedAtMillis),
                ]
            ) { $0.int64(at: 0) }
            guard let id else { throw StoreError(.backend, "SQLite database \(self.path): inserting cluster \"\(cluster.name)\" returned no id") }
            try Self.insertCertificate(db, certificate, clusterID: id)
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func cluster(named name: String) async throws -> ClusterRecord? {
        try await read { db in
            try Self.clusters(db, where: "name = ?1 AND removed_at IS NULL", [.text(name)]).first
        }
    }

    public func listClusters() async throws -> [ClusterRecord] {
        try await read { db in
            try Self.clusters(db, where: "removed_at IS NULL", [])
        }
    }

    public func removeCluster(named name: String, atMillis: Int64, audit: [AuditDraft]) async throws {
        try await write { db in
            let id = try db.queryFirst(
                "UPDATE clusters SET removed_at = ?2 WHERE name = ?1 AND removed_at IS NULL RETURNING id",
                [.text(name), .integer(atMillis)]
            ) { $0.int64(at: 0) }
            guard let id else { throw StoreError(.notFound, "cluster \"\(name)\" not found") }
            try Self.revokeCertificates(db, clusterID: id, atMillis: atMillis)
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func rotateCertificate(_ certificate: CertificateRecord, atMillis: Int64, audit: [AuditDraft]) async throws {
        try await write { db in
            guard let id = try Self.activeClusterID(db, name: certificate.clusterName) else {
                throw StoreError(.notFound, "cluster \"\(certificate.clusterName)\" not found")
            }
            try Self.checkSerialIsFree(db, certificate.serialHex)
            try Self.revokeCertificates(db, clusterID: id, atMillis: atMillis)
            try Self.insertCertificate(db, certificate, clusterID: id)
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func certificate(serialHex: String) async throws -> CertificateRecord? {
        try await read { db in
            try db.queryFirst(Self.selectCertificate + " WHERE k.serial = ?1", [.text(serialHex)], Self.certificateRecord)
        }
    }

    public func currentCertificate(cluster: String) async throws -> CertificateRecord? {
        try await read { db in
            try db.queryFirst(
                Self.selectCertificate + """
                     WHERE c.name = ?1 AND c.removed_at IS NULL AND k.revoked_at IS NULL
                    ORDER BY k.not_before DESC, k.rowid DESC LIMIT 1
                    """,
                [.text(cluster)],
                Self.certificateRecord
            )
        }
    }

    private static func activeClusterID(_ db: SQLiteConnection, name: String) throws -> Int64? {
        try db.queryFirst("SELECT id FROM clusters WHERE name = ?1 AND removed_at IS NULL", [.text(name)]) { $0.int64(at: 0) }
    }

    private static func clusters(_ db: SQLiteConnection, where condition: String, _ bindings: [SQLiteValue]) throws -> [ClusterRecord] {
        let rows = try db.query(
            "SELECT name, cloud, region, labels_json, created_at, removed_at FROM clusters WHERE \(condition) ORDER BY name",
            bindings
        ) { row in
            (name: row.text(at: 0), cloud: row.text(at: 1), region: row.text(at: 2), labels: row.text(at: 3),
             created: row.int64(at: 4), removed: row.optionalInt64(at: 5))
        }
        // Labels are decoded after the cluster query has finished with its statement.
        return try rows.map { row in
            guard let cloud = Cloud(rawValue: row.cloud) else {
                throw StoreError(.backend, "cluster \"\(row.name)\" has an unknown cloud \"\(row.cloud)\" in \(db.path)")
            }
            return ClusterRecord(
                name: row.name, cloud: cloud, region: row.region, labels: try LabelsJSON.decode(row.labels, with: db),
                createdAtMillis: row.created, removedAtMillis: row.removed
            )
        }
    }

    private static func checkSerialIsFree(_ db: SQLiteConnection, _ serial: String) throws {
        if try db.queryFirst("SELECT 1 FROM certificates WHERE serial = ?1", [.text(serial)], { _ in true }) != nil {
            throw StoreError(.conflict, "certificate serial \(serial) already exists")
        }
    }

    private static func insertCertificate(_ db: SQLiteConnection, _ certificate: CertificateRecord, clusterID: Int64) throws {
        try db.run(
            "INSERT INTO certificates (serial, cluster_id, not_before, not_after, pem, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            [
                .text(certificate.serialHex), .integer(clusterID), .integer(certificate.notBeforeMillis),
                .integer(certificate.notAfterMillis), .text(certificate.pem), .integer(certificate.revokedAtMillis),
            ]
        )
    }

    private static func revokeCertificates(_ db: SQLiteConnection, clusterID: Int64, atMillis: Int64) throws {
        try db.run(
            "UPDATE certificates SET revoked_at = ?2 WHERE cluster_id = ?1 AND revoked_at IS NULL",
            [.integer(clusterID), .integer(atMillis)]
        )
    }

    private static let selectCertificate = """
        SELECT k.serial, c.name, k.not_before, k.not_after, k.pem, k.revoked_at
        FROM certificates AS k JOIN clusters AS c ON c.id = k.cluster_id
        """

    private static func certificateRecord(_ row: SQLiteStatement) -> CertificateRecord {
        CertificateRecord(
            serialHex: row.text(at: 0), clusterName: row.text(at: 1), notBeforeMillis: row.int64(at: 2),
            notAfterMillis: row.int64(at: 3), pem: row.text(at: 4), revokedAtMillis: row.optionalInt64(at: 5)
        )
    }

    // MARK: Tokens

    public func createToken(_ token: TokenRecord, audit: [AuditDraft]) async throws {
        try await write { db in
            if try db.queryFirst("SELECT 1 FROM tokens WHERE id = ?1", [.text(token.id)], { _ in true }) != nil {
                throw StoreError(.conflict, "token \"\(token.id)\" already exists")
            }
            if try db.queryFirst("SELECT 1 FROM tokens WHERE secret_hash = ?1", [.text(token.secretHashHex)], { _ in true }) != nil {
                throw StoreError(.conflict, "a token with the same secret already exists")
            }
            try db.run(
                "INSERT INTO tokens (id, name, role, secret_hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                [
                    .text(token.id), .text(token.name), .text(token.role.rawValue), .text(token.secretHashHex),
                    .integer(token.createdAtMillis), .integer(token.revokedAtMillis),
                ]
            )
            _ = try Self.appendAudit(db, audit)
        }
    }

    public func listTokens() async throws -> [TokenRecord] {
        let rows = try await read { db in
            try db.query("SELECT id, name, role, secret_hash, created_at, revoked_at FROM tokens ORDER BY created_at, id", [], Self.tokenRow)
        }
        return try rows.map(tokenRecord)
    }

    public func revokeToken(id: String, atMillis: Int64, audit: [AuditDraft]) async throws {
        try await write { db in
            guard try db.queryFirst(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL RETURNING 1", [.text(id), .integer(atMillis)], { _ in true }
            ) != nil else {
                throw StoreError(.notFound, "token \"\(id)\" not found or already revoked")
            }
            _ = try Self.appendAudit(db, audit)
        }
    }

    private typealias TokenRow = (id: String, name: String, role: String, hash: String, created: Int64, revoked: Int64?)

    private static func tokenRow(_ row: SQLiteStatement) -> TokenRow {
        (id: row.text(at: 0), name: row.text(at: 1), role: row.text(at: 2), hash: row.text(at: 3),
         created: row.int64(at: 4), revoked: row.optionalInt64(at: 5))
    }

    private func tokenRecord(_ row: TokenRow) throws -> TokenRecord {
        guard let role = TokenRecord.Role(rawValue: row.role) else {
            throw StoreError(.backend, "token \"\(row.id)\" has an unknown role \"\(row.role)\" in \(path)")
        }
        return TokenRecord(id: row.id, name: row.name, role: role, secretHashHex: row.hash, createdAtMillis: row.created, revokedAtMillis: row.revoked)
    }

    public func token(secretHashHex: String) async throws -> TokenRecord? {
        let row = try await read { db in
            try db.queryFirst(
                "SELECT id, name, role, secret_hash, created_at, revoked_at FROM tokens WHERE secret_hash = ?1 AND revoked_at IS NULL",
                [.text(secretHashHex)], Self.tokenRow
            )
        }
        return try row.map(tokenRecord)
    }
}

/// The writer connection and what the ingest path remembers between calls.
final class WriterSession {
    let db: SQLiteConnection
    /// Container ids and labels already in `containers`, so that a known container with
    /// unchanged labels costs no statement. Only entries of committed transactions are added.
    private(set) var knownContainers: [ContainerKey: KnownContainer] = [:]
    /// Bounds the memory of a hub whose pods churn; past it the map starts over.
    static let knownContainersLimit = 250_000

    init(_ db: SQLiteConnection) { self.db = db }

    func remember(_ learned: [ContainerKey: KnownContainer]) {
        if knownContainers.count + learned.count > Self.knownContainersLimit {
            knownContainers.removeAll(keepingCapacity: true)
        }
        knownContainers.merge(learned) { _, new in new }
    }
}

struct KnownContainer {
    var id: Int64
    var labels: [String: String]
}
