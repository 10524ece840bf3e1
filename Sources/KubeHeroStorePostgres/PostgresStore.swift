import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The production `HubStore`: one PostgreSQL database shared by any number of hub replicas.
///
/// A connection pool (PostgresNIO's `PostgresClient`) takes every call; each change is one
/// transaction. Batch keys, audit indexes and cluster names are unique in the database, so
/// replicas need no coordination of their own: a batch re-sent to another replica is a
/// duplicate there too. Heavy read-only queries (costs, series, gaps) can go to a read replica.
///
/// ```swift
/// let store = try await PostgresStore.open(try PostgresStoreConfiguration(url: "postgres://kubehero@db/kubehero"))
/// let outcomes = try await store.ingest(records)
/// try await store.close()
/// ```
public final class PostgresStore: HubStore, ConnectionPoolReporting {
    /// Where the database is, without the password: for messages.
    public let location: String
    let writer: PostgresClient
    /// The read replica's pool, or `writer` when there is none.
    let reader: PostgresClient
    let logger: Logger
    /// Runs the pools' background work (connections, keep-alives) until `close()`.
    ///
    /// An unstructured task because a store's lifetime is open ... close, like a file handle's,
    /// not a scope: the hub opens it before its service group runs and closes it after. The
    /// task is not detached from that lifetime: `close()` cancels it and waits for it to end.
    private let pools: Task<Void, Never>
    private let closed = Atomic<Bool>(false)
    /// Calls using or waiting for a connection, per pool, and the pools' sizes (`/metrics`).
    private let writerInFlight = Atomic<Int>(0)
    private let readerInFlight = Atomic<Int>(0)
    private let writerMaximum: Int
    private let readerMaximum: Int?
    /// Container ids and labels known to be in `containers`; only committed entries are added.
    let containers = Mutex(ContainerCache())
    /// Partitions known to exist (by table name).
    let knownPartitions = Mutex(Set<String>())

    /// The schema version this program creates and understands.
    public static var schemaVersion: Int { PostgresSchema.latestVersion }

    private init(
        location: String, writer: PostgresClient, reader: PostgresClient, pools: Task<Void, Never>,
        maximums: (writer: Int, reader: Int?), logger: Logger
    ) {
        self.location = location
        self.writer = writer
        self.reader = reader
        self.pools = pools
        self.writerMaximum = maximums.writer
        self.readerMaximum = maximums.reader
        self.logger = logger
    }

    /// Connects, brings the schema up to date (under an advisory lock, so replicas starting at
    /// once do not collide) and makes the time partitions of the coming days.
    ///
    /// Throws `StoreError(.backend, ...)` naming the server when it cannot be reached or refuses
    /// the login, and `StoreError(.schema, ...)` for a database newer than this program or one
    /// holding another program's tables.
    public static func open(
        _ configuration: PostgresStoreConfiguration,
        readReplica: PostgresStoreConfiguration? = nil,
        logger: Logger = Logger(label: "kubehero.store.postgres")
    ) async throws -> PostgresStore {
        let location = configuration.redactedURL
        let writer: PostgresClient
        let reader: PostgresClient
        do {
            writer = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
            reader = try readReplica.map { PostgresClient(configuration: try $0.clientConfiguration(), backgroundLogger: logger) } ?? writer
        } catch {
            throw Self.storeError(error, location: location, doing: "configuring the connection pool")
        }
        // The pools start first, so that they run by the time the store is first used.
        let separateReader = readReplica != nil
        let pools = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await writer.run() }
                if separateReader { group.addTask { await reader.run() } }
            }
        }
        do {
            // Migrations on a connection of their own: it holds the session advisory lock, and
            // a failure to connect says why (the pool would only retry).
            let connection = try await PostgresConnection.connect(
                configuration: try configuration.connectionConfiguration(), id: 0, logger: logger
            )
            do {
                try await PostgresSchema.migrate(connection, location: location, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } catch {
            pools.cancel()
            await pools.value
            throw Self.storeError(error, location: location, doing: "opening the database")
        }
        let store = PostgresStore(
            location: location, writer: writer, reader: reader, pools: pools,
            maximums: (configuration.maximumConnections, readReplica?.maximumConnections), logger: logger)
        do {
            try await store.loadPartitions()
            try await store.createPartitionsAhead()
        } catch {
            try? await store.close()
            throw error
        }
        logger.debug("opened PostgreSQL store", metadata: ["database": "\(location)", "schemaVersion": "\(PostgresSchema.latestVersion)"])
        return store
    }

    /// Stops the pools and waits for them; later calls throw `.backend`. Idempotent.
    public func close() async throws {
        if closed.exchange(true, ordering: .acquiringAndReleasing) { return }
        pools.cancel()
        await pools.value
        logger.debug("closed PostgreSQL store", metadata: ["database": "\(location)"])
    }

    // MARK: Connections

    /// Calls using or waiting for a connection, per pool: `primary`, and `replica` when reads
    /// go to a read replica. A pool whose calls reach its size makes the next ones wait.
    public var connectionPools: [ConnectionPoolUsage] {
        var pools = [ConnectionPoolUsage(pool: "primary", inFlight: writerInFlight.load(ordering: .relaxed), maximum: writerMaximum)]
        if let readerMaximum {
            pools.append(ConnectionPoolUsage(pool: "replica", inFlight: readerInFlight.load(ordering: .relaxed), maximum: readerMaximum))
        }
        return pools
    }

    private func checkOpen() throws {
        if closed.load(ordering: .acquiring) { throw StoreError(.backend, "the PostgreSQL store at \(location) is closed") }
    }

    /// `body` in one transaction on the primary: committed if it returns, rolled back if it throws.
    func write<T: Sendable>(_ what: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try checkOpen()
        do {
            countInFlight(primary: true, 1)
            defer { countInFlight(primary: true, -1) }
            return try await writer.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return value
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch {
            throw Self.storeError(error, location: location, doing: what)
        }
    }

    /// A call starting (`+1`) or ending (`-1`) on the primary's pool or the replica's.
    private func countInFlight(primary: Bool, _ delta: Int) {
        if primary { writerInFlight.add(delta, ordering: .relaxed) } else { readerInFlight.add(delta, ordering: .relaxed) }
    }

    /// The rows of one statement on the primary (a statement reads one consistent snapshot).
    func read(_ what: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await rows(on: writer, what, query)
    }

    /// The rows of one statement on the read replica, if there is one.
    func readReplica(_ what: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await rows(on: reader, what, query)
    }

    private func rows(on client: PostgresClient, _ what: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try checkOpen()
        let primary = client === writer
        countInFlight(primary: primary, 1)
        defer { countInFlight(primary: primary, -1) }
        do {
            return try await client.query(query, logger: logger).collect()
        } catch {
            throw Self.storeError(error, location: location, doing: what)
        }
    }

    /// What callers see: `StoreError` for everything the database did, naming it and the step.
    static func storeError(_ error: any Error, location: String, doing what: String) -> any Error {
        switch error {
        case is StoreError, is CancellationError:
            return error
        case let error as PSQLError where error.serverInfo?[.sqlState] == "23505":
            return StoreError(.conflict, "\(what): \(describe(error))")
        default:
            return StoreError(.backend, "PostgreSQL \(location): \(what): \(describe(error))")
        }
    }

    /// A PostgresNIO error in words: the server's message and SQLSTATE, or the client's reason.
    /// (`PSQLError`'s own description hides both, to keep queries out of logs.)
    public static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                let detail = info[.detail].map { " (\($0))" } ?? ""
                return "\(info[.message] ?? "server error")\(detail) [SQLSTATE \(info[.sqlState] ?? "?")]"
            }
            let underlying = error.underlying.map { ": \($0)" } ?? ""
            return "\(error.code)\(underlying)"
        }
        return "\(error)"
    }

    // MARK: Clusters and certificates

    public func createCluster(_ cluster: ClusterRecord, certificate: CertificateRecord, audit: [AuditDraft]) async throws {
        let labels = try LabelsJSON.encode(cluster.labels)
        try await write("registering cluster \"\(cluster.name)\"") { db in
            if try await Self.activeClusterID(db, name: cluster.name, logger: logger) != nil {
                throw StoreError(.conflict, "cluster \"\(cluster.name)\" already exists")
            }
            try await Self.checkSerialIsFree(db, certificate.serialHex, logger: logger)
            let id = try await db.query(
                """
                INSERT INTO clusters (name, cloud, region, labels, created_at, removed_at)
                VALUES (\(cluster.name), \(cluster.cloud.rawValue), \(cluster.region), \(labels)::jsonb, \(cluster.createdAtMillis), \(cluster.removedAtMillis))
                RETURNING id
                """,
                logger: logger
            ).collect().first?.decode(Int64.self)
            guard let id else { throw StoreError(.backend, "PostgreSQL \(location): inserting cluster \"\(cluster.name)\" returned no id") }
            try await Self.insertCertificate(db, certificate, clusterID: id, logger: logger)
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func cluster(named name: String) async throws -> ClusterRecord? {
        try await clusters(where: "name = $1 AND removed_at IS NULL", name).first
    }

    public func listClusters() async throws -> [ClusterRecord] {
        try await clusters(where: "removed_at IS NULL", nil)
    }

    private func clusters(where condition: String, _ name: String?) async throws -> [ClusterRecord] {
        var bindings = PostgresBindings()
        if let name { bindings.append(name) }
        let rows = try await read("reading clusters", PostgresQuery(
            unsafeSQL: "SELECT name, cloud, region, labels::text, created_at, removed_at FROM clusters WHERE \(condition) ORDER BY name COLLATE \"C\"",
            binds: bindings
        ))
        return try rows.map { row in
            let (name, cloud, region, labels, created, removed) = try row.decode((String, String, String, String, Int64, Int64?).self)
            guard let cloud = Cloud(rawValue: cloud) else {
                throw StoreError(.backend, "cluster \"\(name)\" has an unknown cloud \"\(cloud)\" in \(location)")
            }
            return ClusterRecord(
                name: name, cloud: cloud, region: region, labels: try LabelsJSON.decode(labels, what: "cluster \"\(name)\"'s labels in \(location)"),
                createdAtMillis: created, removedAtMillis: removed
            )
        }
    }

    public func removeCluster(named name: String, atMillis: Int64, audit: [AuditDraft]) async throws {
        try await write("removing cluster \"\(name)\"") { db in
            let id = try await db.query(
                "UPDATE clusters SET removed_at = \(atMillis) WHERE name = \(name) AND removed_at IS NULL RETURNING id", logger: logger
            ).collect().first?.decode(Int64.self)
            guard let id else { throw StoreError(.notFound, "cluster \"\(name)\" not found") }
            try await Self.revokeCertificates(db, clusterID: id, atMillis: atMillis, logger: logger)
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func rotateCertificate(_ certificate: CertificateRecord, atMillis: Int64, audit: [AuditDraft]) async throws {
        try await write("rotating the certificate of cluster \"\(certificate.clusterName)\"") { db in
            guard let id = try await Self.activeClusterID(db, name: certificate.clusterName, logger: logger) else {
                throw StoreError(.notFound, "cluster \"\(certificate.clusterName)\" not found")
            }
            try await Self.checkSerialIsFree(db, certificate.serialHex, logger: logger)
            try await Self.revokeCertificates(db, clusterID: id, atMillis: atMillis, logger: logger)
            try await Self.insertCertificate(db, certificate, clusterID: id, logger: logger)
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func certificate(serialHex: String) async throws -> CertificateRecord? {
        try await read("reading certificate \(serialHex)", "\(unescaped: Self.selectCertificate) WHERE k.serial = \(serialHex)")
            .first.map(Self.certificateRecord)
    }

    public func currentCertificate(cluster: String) async throws -> CertificateRecord? {
        try await read(
            "reading the current certificate of cluster \"\(cluster)\"",
            """
            \(unescaped: Self.selectCertificate) WHERE c.name = \(cluster) AND c.removed_at IS NULL AND k.revoked_at IS NULL
            ORDER BY k.not_before DESC, k.issued DESC LIMIT 1
            """
        ).first.map(Self.certificateRecord)
    }

    private static func activeClusterID(_ db: PostgresConnection, name: String, logger: Logger) async throws -> Int64? {
        try await db.query("SELECT id FROM clusters WHERE name = \(name) AND removed_at IS NULL", logger: logger).collect().first?.decode(Int64.self)
    }

    private static func checkSerialIsFree(_ db: PostgresConnection, _ serial: String, logger: Logger) async throws {
        if try await !db.query("SELECT 1 FROM certificates WHERE serial = \(serial)", logger: logger).collect().isEmpty {
            throw StoreError(.conflict, "certificate serial \(serial) already exists")
        }
    }

    private static func insertCertificate(_ db: PostgresConnection, _ c: CertificateRecord, clusterID: Int64, logger: Logger) async throws {
        try await db.query(
            """
            INSERT INTO certificates (serial, cluster_id, not_before, not_after, pem, revoked_at)
            VALUES (\(c.serialHex), \(clusterID), \(c.notBeforeMillis), \(c.notAfterMillis), \(c.pem), \(c.revokedAtMillis))
            """,
            logger: logger
        )
    }

    private static func revokeCertificates(_ db: PostgresConnection, clusterID: Int64, atMillis: Int64, logger: Logger) async throws {
        try await db.query("UPDATE certificates SET revoked_at = \(atMillis) WHERE cluster_id = \(clusterID) AND revoked_at IS NULL", logger: logger)
    }

    private static let selectCertificate = """
        SELECT k.serial, c.name, k.not_before, k.not_after, k.pem, k.revoked_at
        FROM certificates AS k JOIN clusters AS c ON c.id = k.cluster_id
        """

    private static func certificateRecord(_ row: PostgresRow) throws -> CertificateRecord {
        let (serial, cluster, notBefore, notAfter, pem, revoked) = try row.decode((String, String, Int64, Int64, String, Int64?).self)
        return CertificateRecord(serialHex: serial, clusterName: cluster, notBeforeMillis: notBefore, notAfterMillis: notAfter, pem: pem, revokedAtMillis: revoked)
    }

    // MARK: Tokens

    public func createToken(_ token: TokenRecord, audit: [AuditDraft]) async throws {
        try await write("creating token \"\(token.id)\"") { db in
            if try await !db.query("SELECT 1 FROM tokens WHERE id = \(token.id)", logger: logger).collect().isEmpty {
                throw StoreError(.conflict, "token \"\(token.id)\" already exists")
            }
            if try await !db.query("SELECT 1 FROM tokens WHERE secret_hash = \(token.secretHashHex)", logger: logger).collect().isEmpty {
                throw StoreError(.conflict, "a token with the same secret already exists")
            }
            try await db.query(
                """
                INSERT INTO tokens (id, name, role, secret_hash, created_at, revoked_at)
                VALUES (\(token.id), \(token.name), \(token.role.rawValue), \(token.secretHashHex), \(token.createdAtMillis), \(token.revokedAtMillis))
                """,
                logger: logger
            )
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    public func token(secretHashHex: String) async throws -> TokenRecord? {
        try await read(
            "looking up a token",
            "SELECT id, name, role, secret_hash, created_at, revoked_at FROM tokens WHERE secret_hash = \(secretHashHex) AND revoked_at IS NULL"
        ).first.map(tokenRecord)
    }

    public func listTokens() async throws -> [TokenRecord] {
        try await read(
            "listing tokens", "SELECT id, name, role, secret_hash, created_at, revoked_at FROM tokens ORDER BY created_at, id COLLATE \"C\""
        ).map(tokenRecord)
    }

    public func revokeToken(id: String, atMillis: Int64, audit: [AuditDraft]) async throws {
        try await write("revoking token \"\(id)\"") { db in
            let revoked = try await db.query(
                "UPDATE tokens SET revoked_at = \(atMillis) WHERE id = \(id) AND revoked_at IS NULL RETURNING 1", logger: logger
            ).collect()
            if revoked.isEmpty { throw StoreError(.notFound, "token \"\(id)\" not found or already revoked") }
            _ = try await Self.appendAudit(db, audit, logger: logger)
        }
    }

    private func tokenRecord(_ row: PostgresRow) throws -> TokenRecord {
        let (id, name, role, hash, created, revoked) = try row.decode((String, String, String, String, Int64, Int64?).self)
        guard let role = TokenRecord.Role(rawValue: role) else {
            throw StoreError(.backend, "token \"\(id)\" has an unknown role \"\(role)\" in \(location)")
        }
        return TokenRecord(id: id, name: name, role: role, secretHashHex: hash, createdAtMillis: created, revokedAtMillis: revoked)
    }
}

/// Labels as stored in `labels` columns: a JSON object of strings (jsonb), so that
/// `labels ->> 'key'` groups by a label.
enum LabelsJSON {
    static func encode(_ labels: [String: String]) throws -> String {
        if labels.isEmpty { return "{}" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(labels), as: UTF8.self)
    }

    static func decode(_ json: String, what: String) throws -> [String: String] {
        if json == "{}" { return [:] }
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
        } catch {
            throw StoreError(.backend, "\(what) are not a JSON object of strings: \(error)")
        }
    }
}

/// What the ingest path remembers about `containers` between calls.
struct ContainerCache {
    struct Known: Sendable {
        var id: Int64
        var labels: [String: String]
    }

    private(set) var known: [ContainerKey: Known] = [:]
    /// Bounds the memory of a hub whose pods churn; past it the map starts over.
    static let limit = 250_000

    mutating func remember(_ learned: [ContainerKey: Known]) {
        if known.count + learned.count > Self.limit { known.removeAll(keepingCapacity: true) }
        known.merge(learned) { _, new in new }
    }
}
