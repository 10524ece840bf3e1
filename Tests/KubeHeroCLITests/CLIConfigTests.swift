import KubeHeroCore
import Testing

@testable import KubeHeroCLI

/// Files by path, as `CLIConfig.resolve` reads them; a missing path reads as nil.
private func files(_ files: [String: String]) -> (String) throws -> String? {
    { path in files[path] }
}

private let home = ["HOME": "/home/ops"]
private let defaultFile = "/home/ops/.kubehero/config.yaml"

@Suite struct CLIConfigTests {
    @Test func flagBeatsEnvironmentBeatsFile() throws {
        let file = "hub: https://file:8443\ntoken: file-token\ncaFile: /etc/file-ca.pem\n"
        let env = home.merging([
            "KUBEHERO_HUB": "https://env:8443", "KUBEHERO_TOKEN": "env-token", "KUBEHERO_CA_FILE": "/etc/env-ca.pem",
        ]) { a, _ in a }

        let flagged = try CLIConfig.resolve(
            flags: .init(hub: "https://flag:8443", token: "flag-token", caFile: "/etc/flag-ca.pem"),
            environment: env, fileReader: files([defaultFile: file])
        )
        #expect(flagged.hubURL == "https://flag:8443")
        #expect(flagged.token == "flag-token")
        #expect(flagged.caFile == "/etc/flag-ca.pem")
        #expect(flagged.hubSource == "--hub")

        let fromEnv = try CLIConfig.resolve(flags: .init(), environment: env, fileReader: files([defaultFile: file]))
        #expect(fromEnv.hubURL == "https://env:8443")
        #expect(fromEnv.token == "env-token")
        #expect(fromEnv.caFile == "/etc/env-ca.pem")
        #expect(fromEnv.tokenSource == "KUBEHERO_TOKEN")

        let fromFile = try CLIConfig.resolve(flags: .init(), environment: home, fileReader: files([defaultFile: file]))
        #expect(fromFile.hubURL == "https://file:8443")
        #expect(fromFile.token == "file-token")
        #expect(fromFile.caFile == "/etc/file-ca.pem")
        #expect(fromFile.hubSource == "hub in \(defaultFile)")
    }

    @Test func eachSettingFallsBackOnItsOwn() throws {
        let config = try CLIConfig.resolve(
            flags: .init(token: "flag-token"),
            environment: home.merging(["KUBEHERO_HUB": "https://env:8443"]) { a, _ in a },
            fileReader: files([defaultFile: "hub: https://file:8443\ncaFile: ca.pem\n"])
        )
        #expect(config.hubURL == "https://env:8443")
        #expect(config.token == "flag-token")
        #expect(config.caFile == "/home/ops/.kubehero/ca.pem")
    }

    @Test func emptyEnvironmentVariablesAreUnset() throws {
        let config = try CLIConfig.resolve(
            flags: .init(),
            environment: home.merging(["KUBEHERO_HUB": "", "KUBEHERO_TOKEN": ""]) { a, _ in a },
            fileReader: files([defaultFile: "hub: https://file:8443\ntoken: t\n"])
        )
        #expect(config.hubURL == "https://file:8443")
        #expect(config.token == "t")
    }

    @Test func configFileIsChosenByFlagThenEnvironmentThenHome() throws {
        let all = files([
            "/a.yaml": "hub: https://a:1\n", "/b.yaml": "hub: https://b:1\n", defaultFile: "hub: https://home:1\n",
        ])
        let env = home.merging(["KUBEHERO_CONFIG": "/b.yaml"]) { a, _ in a }
        #expect(try CLIConfig.resolve(flags: .init(config: "/a.yaml"), environment: env, fileReader: all).hubURL == "https://a:1")
        #expect(try CLIConfig.resolve(flags: .init(), environment: env, fileReader: all).hubURL == "https://b:1")
        #expect(try CLIConfig.resolve(flags: .init(), environment: home, fileReader: all).hubURL == "https://home:1")
    }

    @Test func relativeCAFileIsRelativeToTheConfigFile() throws {
        let config = try CLIConfig.resolve(
            flags: .init(config: "/var/lib/kubehero/admin.yaml"), environment: [:],
            fileReader: files(["/var/lib/kubehero/admin.yaml": "hub: https://h:8443\ncaFile: ca.pem\n"])
        )
        #expect(config.caFile == "/var/lib/kubehero/ca.pem")

        let nested = try CLIConfig.resolve(
            flags: .init(config: "conf/admin.yaml"), environment: [:],
            fileReader: files(["conf/admin.yaml": "hub: https://h:8443\ncaFile: certs/ca.pem\n"])
        )
        #expect(nested.caFile == "conf/certs/ca.pem")

        let absolute = try CLIConfig.resolve(
            flags: .init(config: "/etc/kh.yaml"), environment: [:],
            fileReader: files(["/etc/kh.yaml": "hub: https://h:8443\ncaFile: /srv/ca.pem\n"])
        )
        #expect(absolute.caFile == "/srv/ca.pem")
    }

    @Test func relativeCAFileFromAFlagIsLeftAsGiven() throws {
        let config = try CLIConfig.resolve(
            flags: .init(caFile: "ca.pem", config: "/etc/kh.yaml"), environment: [:],
            fileReader: files(["/etc/kh.yaml": "hub: https://h:8443\ncaFile: other.pem\n"])
        )
        #expect(config.caFile == "ca.pem")
    }

    @Test func readsTheFileKubeheroHubInitWrites() throws {
        let text = """
            # kubehero CLI configuration for the admin of this hub. Use it with
            #   export KUBEHERO_CONFIG=/data/admin.yaml
            hub: https://127.0.0.1:8443
            token: khp_8fdbd920a4dc_V5X7k-emXAgIatQYrBXBGzhcU15cnTMruh1bzF0FmFg
            caFile: /data/ca.pem

            """
        let config = try CLIConfig.resolve(flags: .init(config: "/data/admin.yaml"), environment: [:], fileReader: files(["/data/admin.yaml": text]))
        #expect(config == CLIConfig(
            hubURL: "https://127.0.0.1:8443", token: "khp_8fdbd920a4dc_V5X7k-emXAgIatQYrBXBGzhcU15cnTMruh1bzF0FmFg", caFile: "/data/ca.pem",
            hubSource: "hub in /data/admin.yaml", tokenSource: "token in /data/admin.yaml", caFileSource: "caFile in /data/admin.yaml"
        ))
    }

    @Test func unknownConfigKeyIsAnErrorNamingKeyAndFile() {
        let error = #expect(throws: CLIError.self) {
            try CLIConfig.resolve(
                flags: .init(config: "/etc/kh.yaml"), environment: [:],
                fileReader: files(["/etc/kh.yaml": "hub: https://h:8443\nca_file: ca.pem\n"])
            )
        }
        #expect(error?.message == "unknown key \"ca_file\" in config file /etc/kh.yaml (line 2); expected hub, token, caFile")
    }

    @Test func configFileThatIsNotAMappingIsAnError() {
        let error = #expect(throws: CLIError.self) {
            try CLIConfig.resolve(flags: .init(config: "/k.yaml"), environment: [:], fileReader: files(["/k.yaml": "- hub\n"]))
        }
        #expect(error?.message.contains("/k.yaml must be a mapping") == true)
    }

    @Test func badYAMLIsOneLineWithTheLine() {
        let error = #expect(throws: CLIError.self) {
            try CLIConfig.resolve(flags: .init(config: "/k.yaml"), environment: [:], fileReader: files(["/k.yaml": "hub: [\n"]))
        }
        #expect(error?.message.hasPrefix("config file /k.yaml is not valid YAML: line ") == true)
        #expect(error?.message.contains("\n") == false)
    }

    @Test func missingHubURLSaysHowToSetIt() {
        let error = #expect(throws: CLIError.self) {
            try CLIConfig.resolve(flags: .init(token: "t"), environment: home, fileReader: files([:]))
        }
        let message = error?.message ?? ""
        #expect(message.hasPrefix("no hub URL: pass --hub https://HOST:PORT, set KUBEHERO_HUB, or put \"hub: https://HOST:PORT\" in ~/.kubehero/config.yaml"))
        #expect(message.contains("admin.yaml"))
    }

    @Test func namedConfigFileMustExist() {
        let error = #expect(throws: CLIError.self) {
            try CLIConfig.resolve(flags: .init(hub: "https://h:1"), environment: ["KUBEHERO_CONFIG": "/nope.yaml"], fileReader: files([:]))
        }
        #expect(error?.message == "config file /nope.yaml (from KUBEHERO_CONFIG) does not exist")
    }

    @Test func hubURLMustHaveSchemeAndHost() {
        let noScheme = #expect(throws: ValidationError.self) {
            try CLIConfig.resolve(flags: .init(hub: "127.0.0.1:8443"), environment: [:], fileReader: files([:]))
        }
        #expect(noScheme?.field == "--hub")
        #expect(noScheme?.reason.contains("use https://HOST:PORT") == true)

        let noHost = #expect(throws: ValidationError.self) {
            try CLIConfig.resolve(flags: .init(), environment: ["KUBEHERO_HUB": "https://:8443"], fileReader: files([:]))
        }
        #expect(noHost?.field == "KUBEHERO_HUB")
    }

    @Test func trailingSlashIsDropped() throws {
        let config = try CLIConfig.resolve(flags: .init(hub: "https://hub.example:8443/"), environment: [:], fileReader: files([:]))
        #expect(config.hubURL == "https://hub.example:8443")
    }
}
