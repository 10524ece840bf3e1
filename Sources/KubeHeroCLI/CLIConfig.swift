import KubeHeroCore
import Yams

/// Where the CLI finds its hub, token and CA: flags, then environment, then the config file.
///
/// ```swift
/// let config = try CLIConfig.resolve(
///     flags: .init(hub: "https://127.0.0.1:8443"),
///     environment: ["KUBEHERO_TOKEN": "kh_..."],
///     fileReader: { path in try? String(contentsOfFile: path, encoding: .utf8) }
/// )
/// ```
///
/// The config file is YAML with the keys `hub`, `token` and `caFile` (what `kubehero-hub init`
/// writes as `DIR/admin.yaml`); a relative `caFile` is relative to the file's directory.
public struct CLIConfig: Hashable, Sendable {
    /// The hub's REST API, without a trailing `/` (`https://127.0.0.1:8443`).
    public var hubURL: String
    public var token: String?
    /// PEM file of the CA that signed the hub's certificate; nil trusts the system store.
    public var caFile: String?
    /// Where each value came from (`--hub`, `KUBEHERO_HUB`, `/root/.kubehero/config.yaml`),
    /// so that errors can say which setting to fix.
    public var hubSource: String
    public var tokenSource: String?
    public var caFileSource: String?

    public init(
        hubURL: String, token: String? = nil, caFile: String? = nil,
        hubSource: String = "--hub", tokenSource: String? = nil, caFileSource: String? = nil
    ) {
        self.hubURL = hubURL
        self.token = token
        self.caFile = caFile
        self.hubSource = hubSource
        self.tokenSource = tokenSource
        self.caFileSource = caFileSource
    }

    /// The values given as flags; nil when a flag was not given.
    public struct Flags: Hashable, Sendable {
        public var hub: String?
        public var token: String?
        public var caFile: String?
        public var config: String?

        public init(hub: String? = nil, token: String? = nil, caFile: String? = nil, config: String? = nil) {
            self.hub = hub
            self.token = token
            self.caFile = caFile
            self.config = config
        }
    }

    public static let hubVariable = "KUBEHERO_HUB"
    public static let tokenVariable = "KUBEHERO_TOKEN"
    public static let caFileVariable = "KUBEHERO_CA_FILE"
    public static let configVariable = "KUBEHERO_CONFIG"
    /// Relative to `$HOME`.
    public static let defaultConfigPath = ".kubehero/config.yaml"

    /// Resolves every setting as flag > environment > config file.
    ///
    /// - Parameters:
    ///   - environment: the process environment (`HOME` locates the default config file).
    ///   - fileReader: the contents of a file, nil if it does not exist; throws if it exists
    ///     but cannot be read.
    /// - Throws: `ValidationError` naming the setting and where it came from, or `CLIError`
    ///   when an explicitly named config file is missing.
    public static func resolve(
        flags: Flags, environment: [String: String], fileReader: (String) throws -> String?
    ) throws -> CLIConfig {
        func env(_ name: String) -> String? {
            guard let v = environment[name], !v.isEmpty else { return nil }
            return v
        }

        // An explicitly named config file must exist; the default one may be absent.
        var file = ConfigFile()
        if let path = flags.config ?? env(configVariable) {
            let source = flags.config != nil ? "--config" : configVariable
            guard let text = try fileReader(path) else {
                throw CLIError("config file \(path) (from \(source)) does not exist")
            }
            file = try ConfigFile.parse(text, path: path)
        } else if let home = env("HOME") {
            let path = (home.hasSuffix("/") ? home : home + "/") + defaultConfigPath
            if let text = try fileReader(path) { file = try ConfigFile.parse(text, path: path) }
        }

        func pick(_ flag: String?, _ flagName: String, _ variable: String, _ key: String) -> (value: String, source: String)? {
            if let flag { return (flag, flagName) }
            if let v = env(variable) { return (v, variable) }
            if let path = file.path, let v = file.values[key] { return (v, "\(key) in \(path)") }
            return nil
        }

        guard let hub = pick(flags.hub, "--hub", hubVariable, "hub") else {
            throw CLIError(
                "no hub URL: pass --hub https://HOST:PORT, set \(hubVariable), or put \"hub: https://HOST:PORT\" in ~/\(defaultConfigPath) (kubehero-hub init writes such a file as DIR/admin.yaml; use it with --config or \(configVariable))"
            )
        }
        let hubURL = try normalizeHubURL(hub.value, source: hub.source)
        let token = pick(flags.token, "--token", tokenVariable, "token")
        if let token, token.value.contains(where: { $0 == " " || $0 == "\n" || $0 == "\r" }) {
            throw ValidationError(field: token.source, "the token must not contain spaces or line breaks")
        }
        var caFile = pick(flags.caFile, "--ca-file", caFileVariable, "caFile")
        if let ca = caFile, let path = file.path, ca.source == "caFile in \(path)" {
            caFile?.value = resolvePath(ca.value, relativeTo: directory(of: path))
        }
        return CLIConfig(
            hubURL: hubURL, token: token?.value, caFile: caFile?.value,
            hubSource: hub.source, tokenSource: token?.source, caFileSource: caFile?.source
        )
    }

    /// `https://host:port[/prefix]` without a trailing `/`; http and https only.
    static func normalizeHubURL(_ text: String, source: String) throws(ValidationError) -> String {
        var url = text.trimmingSpaces()
        while url.hasSuffix("/") { url.removeLast() }
        let lower = url.lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://") else {
            throw ValidationError(field: source, "\"\(text)\" is not a hub URL: use https://HOST:PORT (or http://HOST:PORT)")
        }
        let rest = url.drop(while: { $0 != ":" }).dropFirst(3)
        if rest.isEmpty || rest.hasPrefix("/") || rest.hasPrefix(":") {
            throw ValidationError(field: source, "\"\(text)\" has no host: use https://HOST:PORT")
        }
        if rest.contains("?") || rest.contains("#") {
            throw ValidationError(field: source, "\"\(text)\" must not have a query or fragment")
        }
        return url
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func resolvePath(_ path: String, relativeTo directory: String) -> String {
        if path.hasPrefix("/") { return path }
        if directory == "." { return path }
        return (directory.hasSuffix("/") ? directory : directory + "/") + path
    }
}

/// The parsed config file; every key optional, unknown keys refused.
struct ConfigFile: Hashable, Sendable {
    /// nil when no config file was read.
    var path: String?
    /// `hub`, `token`, `caFile` as written.
    var values: [String: String] = [:]

    static let keys = ["hub", "token", "caFile"]

    static func parse(_ text: String, path: String) throws -> ConfigFile {
        var file = ConfigFile(path: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw CLIError("config file \(path) is not valid YAML: \(describe(error))")
        }
        guard let root else { return file }  // an empty file sets nothing
        guard let mapping = root.mapping else {
            throw CLIError("config file \(path) must be a mapping with the keys \(keys.joined(separator: ", "))")
        }
        for (keyNode, valueNode) in mapping {
            let key = keyNode.string ?? "?"
            let line = keyNode.mark.map { " (line \($0.line))" } ?? ""
            guard keys.contains(key) else {
                throw CLIError("unknown key \"\(key)\" in config file \(path)\(line); expected \(keys.joined(separator: ", "))")
            }
            guard let value = valueNode.scalar?.string, !value.isEmpty else {
                throw CLIError("\"\(key)\" in config file \(path)\(line) must be a non-empty string")
            }
            file.values[key] = value
        }
        return file
    }

    /// `line 3: mapping values are not allowed in this context`, without Yams' snippet.
    static func describe(_ error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            "line \(mark.line): \(problem)"
        case let .duplicatedKeysInMapping(duplicates, _):
            "duplicated key(s) \(duplicates.sorted().joined(separator: ", "))"
        default:
            ErrorLine.oneLine("\(error)")
        }
    }
}
