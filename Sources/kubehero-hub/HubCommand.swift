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
        subcommands: [Init.self, Serve.self, RotateLogKey.self]
    )
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

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap()
            let result = try await HubDataDir.initialize(path: dataDir, serverNames: serverNames, apiURL: apiURL, logger: logger)
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

        @OptionGroup var log: LogOptions

        func run() async throws {
            let logger = try log.bootstrap()
            let (old, new) = try await HubDataDir.rotateLogKey(path: dataDir, logger: logger)
            print("""
                audit log key rotated
                  old: \(old)
                  new: \(new)
                both are in \(AuditKeys.verifiersPath(dataDir)); give auditors the new file
                """)
        }
    }
}
