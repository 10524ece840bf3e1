import ArgumentParser
import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `--hub`, `--token`, `--ca-file`, `--config`: on every command that talks to the hub.
public struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The hub's REST API URL, e.g. https://127.0.0.1:8443 (or KUBEHERO_HUB, or hub: in the config file).", valueName: "url"))
    public var hub: String?

    @Option(help: ArgumentHelp("API token (or KUBEHERO_TOKEN, or token: in the config file).", valueName: "token"))
    public var token: String?

    @Option(
        name: .customLong("ca-file"),
        help: ArgumentHelp("PEM file of the hub's CA to trust, e.g. DIR/ca.pem from kubehero-hub init (or KUBEHERO_CA_FILE, or caFile: in the config file). Without it https uses the system trust store.", valueName: "path")
    )
    public var caFile: String?

    @Option(help: ArgumentHelp("Config file with hub, token and caFile (or KUBEHERO_CONFIG; default ~/.kubehero/config.yaml).", valueName: "path"))
    public var config: String?

    public init() {}

    public var flags: CLIConfig.Flags {
        CLIConfig.Flags(hub: hub, token: token, caFile: caFile, config: config)
    }

    /// The settings from these flags, the process environment and the config file.
    public func resolve() throws -> CLIConfig {
        try CLIConfig.resolve(flags: flags, environment: ProcessInfo.processInfo.environment, fileReader: Self.readFile)
    }

    /// A file's text; nil if it does not exist.
    static func readFile(_ path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("cannot read config file \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// `-o table|json|yaml`.
public struct OutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output format: table, json or yaml.")
    public var output: OutputFormat = .table

    public init() {}
}

/// `--label key=value` flags as a label set.
public enum LabelFlags {
    /// Each flag parsed and checked with the Kubernetes label rules; a key given twice is refused.
    public static func parse(_ flags: [String], field: String = "--label") throws(KubeHeroCore.ValidationError) -> [String: String] {
        var labels = [String: String]()
        for flag in flags {
            let (key, value) = try KubernetesNames.parseLabel(flag, field: field)
            if let earlier = labels[key] {
                throw KubeHeroCore.ValidationError(field: field, "label \"\(key)\" is given twice (\(key)=\(earlier) and \(flag))")
            }
            labels[key] = value
        }
        return labels
    }
}

/// Runs a check of flag values in `validate()`, so that a bad flag is a usage error
/// (ArgumentParser's exit code) with the same `field: reason` text as everywhere else.
func checkFlags(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as KubeHeroCore.ValidationError {
        throw ArgumentParser.ValidationError(error.description)
    }
}
