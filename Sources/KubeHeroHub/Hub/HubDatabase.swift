import KubeHeroStore
import KubeHeroStorePostgres
import KubeHeroStoreSQLite
import Logging

/// Which database a hub keeps its state in: the embedded SQLite file in its data dir (the
/// default, one replica), or a PostgreSQL database shared by any number of replicas
/// (`kubehero-hub serve --database postgres://...`; docs/postgres.md).
public enum HubDatabase: Sendable, Hashable, CustomStringConvertible {
    /// `DIR/hub.sqlite`.
    case sqlite
    /// Writes and most reads go to `primary`; cost, series and gap queries to `readReplica`
    /// when one is given.
    case postgres(PostgresStoreConfiguration, readReplica: PostgresStoreConfiguration? = nil)

    /// Opens (and migrates) the store.
    public func open(dataDir: HubDataDir, logger: Logger) async throws -> any HubStore {
        switch self {
        case .sqlite:
            return try await SQLiteStore.open(path: dataDir.database, logger: logger)
        case .postgres(let primary, let replica):
            return try await PostgresStore.open(primary, readReplica: replica, logger: logger)
        }
    }

    public var isSQLite: Bool { self == .sqlite }

    /// Where, without passwords.
    public var description: String {
        switch self {
        case .sqlite: "sqlite (hub.sqlite in the data dir)"
        case .postgres(let primary, let replica): primary.redactedURL + (replica.map { " (reads: \($0.redactedURL))" } ?? "")
        }
    }
}

extension HubDatabase {
    /// TLS settings for the database connections given as flags; each one set overrides the
    /// URL's own parameter (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`).
    public struct TLSFlags: Sendable, Hashable {
        public var mode: String?
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?

        public init(mode: String? = nil, caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.mode = mode
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }

        func apply(to configuration: inout PostgresStoreConfiguration) throws {
            if let mode {
                guard let parsed = PostgresStoreConfiguration.TLSMode(rawValue: mode) else {
                    throw HubDatabaseError(description: "--database-tls: \"\(mode)\" is not one of \(PostgresStoreConfiguration.TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                configuration.tlsMode = parsed
            }
            if let caFile { configuration.caFile = caFile }
            if let certificateFile { configuration.certificateFile = certificateFile }
            if let keyFile { configuration.keyFile = keyFile }
        }
    }

    /// The database of `--database URL` (nil or `sqlite`: the data dir's SQLite file) and
    /// `--database-read-url URL`, with the TLS flags applied to both.
    public static func parse(url: String?, readURL: String? = nil, tls: TLSFlags = TLSFlags(), flag: String = "--database") throws -> HubDatabase {
        guard let url, url != "sqlite" else {
            if readURL != nil { throw HubDatabaseError(description: "--database-read-url needs --database postgres://...: an SQLite hub has no read replica") }
            if tls != TLSFlags() { throw HubDatabaseError(description: "the --database-tls options need --database postgres://...") }
            return .sqlite
        }
        do {
            var primary = try PostgresStoreConfiguration(url: url)
            try tls.apply(to: &primary)
            var replica = try readURL.map { try PostgresStoreConfiguration(url: $0) }
            if replica != nil { try tls.apply(to: &replica!) }
            return .postgres(primary, readReplica: replica)
        } catch let error as PostgresStoreConfiguration.Error {
            throw HubDatabaseError(description: "\(flag): \(error.description)")
        }
    }
}

public struct HubDatabaseError: Error, CustomStringConvertible, Hashable {
    public var description: String
}
