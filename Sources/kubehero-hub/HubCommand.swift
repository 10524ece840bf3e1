// kubehero-hub: thin command-line wrapper; the hub itself is KubeHeroHub.

import ArgumentParser
import KubeHeroCore
import KubeHeroHub
import Logging


// ArgumentParser prints usage errors with help, and any other error as one line
// (`Error: <description>`) with exit code 1.
@main
struct HubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubehero-hub",
        abstract: "The KubeHero hub: ingest, pricing, storage and the REST API.",
        subcommands: [Init.self, Serve.self, RotateLogKey.self, Migrate.self]
    )
}

/// Where the hub's state is: SQLite in the data dir, or PostgreSQL (docs/postgres.md).
struct DatabaseOptions: ParsableArguments {
    @Option(help: "The database: sqlite (DIR/hub.sqlite, the default) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=verify-full&sslrootcert=CA.pem] shared by every replica.")
    var database: String?

    @Option(help: "A read replica's postgres:// URL for cost, series and gap queries (default: the primary).")
    var databaseReadURL: String?

    @Option(help: "TLS to the database: disable, prefer, require, verify-ca, verify-full (overrides the URL's sslmode).")
    var databaseTLS: String?

    @Option(help: "CA certificate (PEM) the database's server certificate is checked against (sslrootcert).")
    var databaseCAFile: String?

    @Option(help: "Client certificate (PEM) for the database (sslcert).")
    var databaseCert: String?

    @Option(help: "Client certificate key (PEM) for the database (sslkey).")
    var databaseKey: String?

    func resolve() throws -> HubDatabase {
        do {
            return try HubDatabase.parse(
                url: database, readURL: databaseReadURL,
                tls: .init(mode: databaseTLS, caFile: databaseCAFile, certificateFile: databaseCert, keyFile: databaseKey)
            )
        } catch let error as HubDatabaseError {
            throw ArgumentParser.ValidationError(error.description)
        }
    }
}

struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func bootstrap() throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ArgumentParser.ValidationError("--log-level: \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "kubehero-hub")
    }
}

extension HubCommand {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a hub data dir: CA, server certificate, database and an admin token."
        )

        @Option(help: "Directory to create (must not exist or be empty).")
        var dataDir: String

        @Option(name: .customLong("server-name"), help: "DNS name or IP address the hub's certificate is valid for (repeatable; default localhost, 127.0.0.1, ::1).")
        var serverNames: [String] = []

        @Option(help: "URL the CLI will use for the REST API (written to DIR/admin.yaml).")
        var apiURL: String = "https://127.0.0.1:8443"

        @Option(help: "Use the CA and server certificate in this directory (ca.pem, ca-key.pem, server.pem, server-key.pem; e.g. a mounted Secret) instead of making new ones.")
        var pkiDir: String?

        @OptionGroup var db: DatabaseOptions

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap()
            let result = try await HubDataDir.initialize(path: dataDir, serverNames: serverNames, apiURL: apiURL, database: try db.resolve(), pkiDir: pkiDir, logger: logger)
            print("""
                initialised hub data dir \(dataDir)
                  CA certificate:   \(result.caCertificatePath)
                  server names:     \(result.serverNames.joined(separator: ", "))
                  admin token:      \(result.adminToken)
                  CLI config:       \(result.adminConfigPath)  (export KUBEHERO_CONFIG=\(result.adminConfigPath))
                next: kubehero-hub serve --data-dir \(dataDir)
                """)
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the hub.")

        @Option(help: "Hub data dir made by `kubehero-hub init`.")
        var dataDir: String

        @Option(help: "HOST:PORT for the REST API.")
        var apiListen: String = "127.0.0.1:8443"

        @Option(help: "HOST:PORT for the agents' mTLS gRPC ingest.")
        var ingestListen: String = "0.0.0.0:9443"

        @Flag(help: "Serve the REST API over plain HTTP (only behind an ingress that terminates TLS).")
        var plainHTTP = false

        @Option(help: "Pricing catalogs: a JSON file, a directory of them, or an http(s) URL (default: ./pricing if present, else the built-in rate card). Imported as a price version when it changes.")
        var pricingSource: String?

        @Option(help: "How often the pricing source is read again (e.g. 6h).")
        var pricingRefresh: String = "6h"

        @Option(help: "Default validity of issued cluster certificates, in days.")
        var certificateValidityDays: Int = 365

        @Option(help: "How long 1-minute rows are kept (e.g. 14d).")
        var minuteRetention: String = "14d"

        @Option(help: "How long hourly rows are kept (e.g. 400d).")
        var hourRetention: String = "400d"

        @OptionGroup var db: DatabaseOptions

        @Option(help: "With PostgreSQL: how long the leader's lease lasts (e.g. 15s).")
        var leaderLease: String = "15s"

        @Option(help: "With PostgreSQL: how often the leader renews its lease (e.g. 5s).")
        var leaderRenew: String = "5s"

        @Option(help: "With PostgreSQL: this replica's name in the leader lease (default: the host name).")
        var replicaName: String?

        @Option(help: "How often every BudgetPolicy is evaluated (e.g. 60s); also at once after a policy changes.")
        var policyInterval: String = "60s"

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap()
            var options = HubOptions(dataDir: dataDir)
            let policyMillis = try DurationText.parseMillis(policyInterval, field: "--policy-interval")
            guard policyMillis >= 1_000 else { throw ArgumentParser.ValidationError("--policy-interval: must be at least 1s, got \(policyInterval)") }
            options.settings.policyEvaluationInterval = .milliseconds(policyMillis)
            let api = try HostPort(parsing: apiListen, field: "--api-listen")
            let ingest = try HostPort(parsing: ingestListen, field: "--ingest-listen")
            options.apiHost = api.host
            options.apiPort = api.port
            options.ingestHost = ingest.host
            options.ingestPort = ingest.port
            options.plainHTTP = plainHTTP
            options.pricingSource = pricingSource
            options.pricingRefreshMillis = try DurationText.parseMillis(pricingRefresh, field: "--pricing-refresh")
            if options.pricingRefreshMillis < 60_000 {
                throw ArgumentParser.ValidationError("--pricing-refresh: must be at least 1m, got \(pricingRefresh)")
            }
            guard (1...3650).contains(certificateValidityDays) else {
                throw ArgumentParser.ValidationError("--certificate-validity-days: must be 1-3650, got \(certificateValidityDays)")
            }
            options.settings.defaultCertificateValidityDays = certificateValidityDays
            options.settings.minuteRetentionMillis = try DurationText.parseMillis(minuteRetention, field: "--minute-retention")
            options.settings.hourRetentionMillis = try DurationText.parseMillis(hourRetention, field: "--hour-retention")
            options.database = try db.resolve()
            options.leaderLease.leaseDuration = .milliseconds(try DurationText.parseMillis(leaderLease, field: "--leader-lease"))
            options.leaderLease.renewInterval = .milliseconds(try DurationText.parseMillis(leaderRenew, field: "--leader-renew"))
            do {
                try options.leaderLease.validate()
            } catch let error as LeaderLease.LeaseSettingsError {
                throw ArgumentParser.ValidationError("--leader-lease/--leader-renew: \(error.description)")
            }
            options.replicaName = replicaName
            let hub = try await Hub.open(options: options, logger: logger)
            try await hub.run(handleSignals: true)
        }
    }
}


extension HubCommand {
    struct RotateLogKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-log-key",
            abstract: "Replace the audit log's signing key; older checkpoints keep verifying with the old key (run with the hub stopped)."
        )

        @Option(help: "The hub's data directory.")
        var dataDir: String

        @OptionGroup var db: DatabaseOptions

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap()
            let (old, new) = try await HubDataDir.rotateLogKey(path: dataDir, database: try db.resolve(), logger: logger)
            print("""
                audit log key rotated
                  old: \(old)
                  new: \(new)
                both are in \(AuditKeys.verifiersPath(dataDir)); give auditors the new file
                """)
        }
    }
}

extension HubCommand {
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a hub's whole state from SQLite into an empty PostgreSQL database (run with the hub stopped).",
            discussion: """
                Copies clusters, certificates, tokens, containers, usage rows, batch keys, gaps, price versions, \
                node-minutes, the audit log and its checkpoints, then checks every table's row count and verifies the \
                copied audit log against its signed checkpoints. Afterwards: kubehero-hub serve --data-dir DIR --database URL.
                """
        )

        @Option(help: "The source: sqlite:PATH (a hub's DIR/hub.sqlite).")
        var from: String

        @Option(help: "The target: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (an empty database).")
        var to: String

        @Option(help: "The hub's data dir, for the audit log's public keys (default: the directory of the SQLite file).")
        var dataDir: String?

        @Option(help: "TLS to the database: disable, prefer, require, verify-ca, verify-full (overrides the URL's sslmode).")
        var databaseTLS: String?

        @Option(help: "CA certificate (PEM) the database's server certificate is checked against (sslrootcert).")
        var databaseCAFile: String?

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap()
            guard from.hasPrefix("sqlite:"), from.count > "sqlite:".count else {
                throw ArgumentParser.ValidationError("--from: expected sqlite:PATH, got \(from)")
            }
            let path = String(from.dropFirst("sqlite:".count))
            let database: HubDatabase
            do {
                database = try HubDatabase.parse(url: to, tls: .init(mode: databaseTLS, caFile: databaseCAFile), flag: "--to")
            } catch let error as HubDatabaseError {
                throw ArgumentParser.ValidationError(error.description)
            }
            guard case .postgres(let target, _) = database else {
                throw ArgumentParser.ValidationError("--to: expected a postgres:// URL, got \(to)")
            }
            let keysDir = dataDir ?? (path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : ".")
            let keys = try AuditKeys.load(from: keysDir).verifiers
            let report = try await HubStoreCopy.run(sqlitePath: path, target: target, verifierKeys: keys, logger: logger) { table, rows in
                if rows % 100_000 == 0 { print("  \(table): \(rows) rows...") }
            }
            for (name, rows) in report.tables { print("copied \(name): \(rows) rows") }
            print(report.auditSummary)
            print("next: kubehero-hub serve --data-dir \(keysDir) --database \(database)")
        }
    }
}
