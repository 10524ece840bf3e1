import Foundation
import KubeHeroStorePostgres
import Logging
import PostgresNIO

/// The PostgreSQL server the tests use: `KUBEHERO_TEST_POSTGRES_URL`, which
/// `scripts/postgres.sh start` prints (scripts/test.sh starts it), or that script's default
/// address. Each test gets a database of its own, dropped afterwards.
///
/// Tests that need it are enabled by `TestPostgres.available()`: skipped, saying why, when no
/// server answers; failed when `CI=true`, where the server must be there.
public enum TestPostgres {
    public static var url: String {
        ProcessInfo.processInfo.environment["KUBEHERO_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:55432/postgres"
    }

    public static let skipReason = "needs PostgreSQL at KUBEHERO_TEST_POSTGRES_URL or 127.0.0.1:55432; start one with: eval \"$(bash scripts/postgres.sh start)\""

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Whether the server answers; throws (failing the test) when it does not and `CI=true`.
    public static func available() async throws -> Bool {
        do {
            let connection = try await connect(url)
            try await connection.close()
            return true
        } catch {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                throw Unavailable(description: "CI=true but PostgreSQL at \(url) does not answer (\(PostgresStore.describe(error))): scripts/test.sh starts it with scripts/postgres.sh")
            }
            return false
        }
    }

    static func connect(_ url: String) async throws -> PostgresConnection {
        let c = try PostgresStoreConfiguration(url: url)
        var configuration = PostgresConnection.Configuration(host: c.host, port: c.port, username: c.username, password: c.password, database: c.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        return try await PostgresConnection.connect(configuration: configuration, id: 1, logger: quietLogger)
    }

    /// Runs SQL on the server's maintenance database (`CREATE DATABASE` and the like).
    public static func admin(_ sql: String) async throws {
        let connection = try await connect(url)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: quietLogger)
        } catch {
            try? await connection.close()
            throw TestPostgresError(description: "\(sql): \(PostgresStore.describe(error))")
        }
        try await connection.close()
    }

    /// Runs one SQL statement in database `database` (to break things behind a store's back).
    public static func run(_ sql: String, in database: String) async throws {
        _ = try await query(sql, in: database)
    }

    /// The first column, as text, of the rows of one SQL statement in database `database`.
    public static func query(_ sql: String, in database: String) async throws -> [String] {
        let c = try PostgresStoreConfiguration(url: url)
        let connection = try await connect("postgres://\(c.username)@\(c.host):\(c.port)/\(database)")
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: quietLogger).collect()
            try await connection.close()
            return try rows.map { row in try row.makeRandomAccess()[0].decode(String?.self) ?? "" }
        } catch {
            try? await connection.close()
            throw TestPostgresError(description: "\(sql): \(PostgresStore.describe(error))")
        }
    }

    /// A new empty database for `body` (its URL and name), dropped afterwards.
    public static func withDatabase<R>(_ body: (_ url: String, _ name: String) async throws -> R) async throws -> R {
        let name = "kubehero_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await admin("CREATE DATABASE \(name)")
        var c = try PostgresStoreConfiguration(url: url)
        c.database = name
        let databaseURL = "postgres://\(c.username)\(c.password.map { ":\($0)" } ?? "")@\(c.host):\(c.port)/\(name)?sslmode=disable"
        do {
            let result = try await body(databaseURL, name)
            try? await admin("DROP DATABASE \(name) WITH (FORCE)")
            return result
        } catch {
            try? await admin("DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
    }

    /// A store on a new database, closed and dropped afterwards.
    public static func withStore<R>(_ body: (PostgresStore, _ url: String, _ name: String) async throws -> R) async throws -> R {
        try await withDatabase { url, name in
            let store = try await PostgresStore.open(try PostgresStoreConfiguration(url: url), logger: quietLogger)
            do {
                let result = try await body(store, url, name)
                try await store.close()
                return result
            } catch {
                try? await store.close()
                throw error
            }
        }
    }
}

public struct TestPostgresError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
