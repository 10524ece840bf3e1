import KubeHeroStore
import NIOSSL
import PostgresNIO

// URLComponents' percent-decoding is Foundation's (PostgresNIO links Foundation anyway).
import Foundation

/// Where a PostgreSQL store lives and how to reach it, from a libpq-style URL:
///
/// ```
/// postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE?sslmode=verify-full&sslrootcert=/etc/kubehero/db-ca.pem
/// ```
///
/// Query parameters understood (as libpq names them): `sslmode` (`disable`, `prefer`,
/// `require`, `verify-ca`, `verify-full`; default `prefer`), `sslrootcert` (CA file),
/// `sslcert` and `sslkey` (client certificate and key, PEM), `connect_timeout` (seconds),
/// `pool_max` (connections per pool, default 20). Anything else is refused by name.
public struct PostgresStoreConfiguration: Sendable, Hashable {
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS if the server offers it, unverified; plain otherwise.
        case prefer
        /// TLS, but the server's certificate is not checked.
        case require
        /// TLS with the server's certificate checked against `caFile` (or the system roots).
        case verifyCA = "verify-ca"
        /// As `verifyCA`, and the certificate must name `host`.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode = .prefer
    public var caFile: String?
    public var certificateFile: String?
    public var keyFile: String?
    public var connectTimeoutSeconds: Int = 10
    public var maximumConnections: Int = 20

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }

    public struct Error: Swift.Error, CustomStringConvertible, Hashable {
        public var description: String
    }

    /// Parses a `postgres://` or `postgresql://` URL; errors name the part that is wrong.
    public init(url: String) throws {
        func bad(_ why: String) -> Error {
            Error(description: "database URL \(Self.redact(url)): \(why); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]")
        }
        guard let components = URLComponents(string: url) else { throw bad("not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw bad("the scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw bad("no host") }
        guard let user = components.user, !user.isEmpty else { throw bad("no user name") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else { throw bad("no database name (the path after the host)") }
        if let port = components.port, !(1...65535).contains(port) { throw bad("port \(port) is out of range") }
        self.init(
            host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user, password: components.password.map { $0.removingPercentEncoding ?? $0 },
            database: path.removingPercentEncoding ?? path
        )
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw bad("sslmode \"\(value)\" is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tlsMode = mode
            case "sslrootcert": caFile = value
            case "sslcert": certificateFile = value
            case "sslkey": keyFile = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else { throw bad("connect_timeout \"\(value)\" is not a positive number of seconds") }
                connectTimeoutSeconds = seconds
            case "pool_max":
                guard let count = Int(value), (1...1000).contains(count) else { throw bad("pool_max \"\(value)\" is not 1-1000") }
                maximumConnections = count
            default:
                throw bad("unknown parameter \"\(item.name)\" (known: sslmode, sslrootcert, sslcert, sslkey, connect_timeout, pool_max)")
            }
        }
    }

    /// The URL without the password, for messages and logs.
    public var redactedURL: String {
        "postgres://\(username)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    static func redact(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// The TLS settings (nil: plain TCP) and whether plain TCP is acceptable when the server
    /// offers no TLS. Reads the CA and client certificate files.
    func tls() throws -> (configuration: TLSConfiguration, required: Bool)? {
        if tlsMode == .disable { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        switch tlsMode {
        case .disable, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if (certificateFile == nil) != (keyFile == nil) {
            throw Error(description: "database TLS: sslcert and sslkey must be given together")
        }
        do {
            if let caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
            if let certificateFile { tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) } }
            if let keyFile { tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)) }
        } catch {
            throw Error(description: "database TLS files (sslrootcert \(caFile ?? "-"), sslcert \(certificateFile ?? "-"), sslkey \(keyFile ?? "-")): \(error)")
        }
        return (tls, tlsMode != .prefer)
    }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let mode: PostgresConnection.Configuration.TLS
        if let (tls, required) = try tls() {
            let context = try NIOSSLContext(configuration: tls)
            mode = required ? .require(context) : .prefer(context)
        } else {
            mode = .disable
        }
        var c = PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: mode)
        c.options.connectTimeout = .seconds(Int64(connectTimeoutSeconds))
        return c
    }

    func clientConfiguration() throws -> PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS
        if let (tls, required) = try tls() {
            mode = required ? .require(tls) : .prefer(tls)
        } else {
            mode = .disable
        }
        var c = PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: mode)
        c.options.connectTimeout = .seconds(Int64(connectTimeoutSeconds))
        c.options.maximumConnections = maximumConnections
        return c
    }
}
