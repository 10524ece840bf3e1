import ArgumentParser
import KubeHeroAgent
import KubeHeroCore
import Logging

extension AgentCommand {
    /// `kubehero-agent operator`: the edge operator (one small Deployment per cluster).
    struct Operator: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the edge operator: keep the hub's enforcement directives and serve the pod admission webhook."
        )

        @Option(help: "Hub ingest HOST:PORT (KUBEHERO_HUB).") var hub: String?
        @Option(help: "Cluster bundle from `kubehero cluster add` (KUBEHERO_CERT).") var cert: String?
        @Option(help: "Directory where the enforcement set is kept across restarts (KUBEHERO_STATE_DIR).") var stateDir: String?
        @Option(help: "HOST:PORT the admission webhook listens on (default 0.0.0.0:8443).") var webhookListen = "0.0.0.0:8443"
        @Option(help: "The webhook's TLS certificate (PEM).") var webhookCert: String
        @Option(help: "The webhook's TLS private key (PEM).") var webhookKey: String
        @Option(help: "HOST:PORT for /healthz and /metrics; accepted for the chart, not served yet.") var healthListen: String?
        @Option(help: "Log level: trace, debug, info, notice, warning, error (KUBEHERO_LOG_LEVEL).") var logLevel: String?

        func run() async throws {
            let level = setting(logLevel, "KUBEHERO_LOG_LEVEL") ?? "info"
            guard let logLevel = Logger.Level(rawValue: level) else {
                throw ArgumentParser.ValidationError("--log-level: \"\(level)\" is not a log level")
            }
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: logLevel) }
            let logger = Logger(label: "kubehero-operator")
            guard let hubText = setting(hub, "KUBEHERO_HUB") else { throw ArgumentParser.ValidationError("--hub (or KUBEHERO_HUB) is required: the hub's ingest HOST:PORT") }
            guard let certPath = setting(cert, "KUBEHERO_CERT") else { throw ArgumentParser.ValidationError("--cert (or KUBEHERO_CERT) is required: the bundle from `kubehero cluster add`") }
            guard let dir = setting(stateDir, "KUBEHERO_STATE_DIR") else { throw ArgumentParser.ValidationError("--state-dir (or KUBEHERO_STATE_DIR) is required") }
            var options = OperatorOptions(
                hub: try HostPort(parsing: hubText, field: "--hub"), bundlePath: certPath, stateDir: dir,
                webhookCertPath: webhookCert, webhookKeyPath: webhookKey
            )
            options.webhookListen = try HostPort(parsing: webhookListen, field: "--webhook-listen")
            try await EdgeOperator.make(options: options, logger: logger).run(handleSignals: true)
        }
    }
}
