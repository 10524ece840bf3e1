import ArgumentParser
import KubeHeroCore
import Testing

@testable import KubeHeroCLI

@Suite struct LabelFlagTests {
    @Test func labelsParseIntoASet() throws {
        #expect(try LabelFlags.parse(["env=prod", "app.kubernetes.io/team=data", "empty="]) == [
            "env": "prod", "app.kubernetes.io/team": "data", "empty": "",
        ])
    }

    @Test func labelWithoutEqualsIsRefused() {
        let error = #expect(throws: KubeHeroCore.ValidationError.self) { try LabelFlags.parse(["team"]) }
        #expect(error == KubeHeroCore.ValidationError(field: "--label", "expected key=value, got \"team\""))
    }

    @Test func labelBreakingKubernetesRulesIsRefused() {
        let badKey = #expect(throws: KubeHeroCore.ValidationError.self) { try LabelFlags.parse(["-env=prod"]) }
        #expect(badKey?.field == "--label")
        #expect(badKey?.reason.hasPrefix("label key \"-env\" is not valid") == true)
        let badValue = #expect(throws: KubeHeroCore.ValidationError.self) { try LabelFlags.parse(["env=a b"]) }
        #expect(badValue?.reason.hasPrefix("label value \"a b\" is not valid") == true)
    }

    @Test func labelGivenTwiceIsRefused() {
        let error = #expect(throws: KubeHeroCore.ValidationError.self) { try LabelFlags.parse(["env=prod", "env=dev"]) }
        #expect(error?.reason == "label \"env\" is given twice (env=prod and env=dev)")
    }
}

@Suite struct CommandParsingTests {
    let add = ["cluster", "add", "--hub", "https://127.0.0.1:8443", "--name", "prod-us-east-1", "--cloud", "aws", "--region", "us-east-1"]

    @Test func clusterAddParsesItsFlags() throws {
        let command = try KubeheroCommand.parseAsRoot(add + ["--label", "env=prod", "--label", "team=data", "--validity-days", "30", "--out", "/tmp/b.pem", "--force"])
        let parsed = try #require(command as? ClusterCommand.Add)
        #expect(parsed.name == "prod-us-east-1")
        #expect(parsed.labels == ["env=prod", "team=data"])
        #expect(parsed.validityDays == 30)
        #expect(parsed.out == "/tmp/b.pem")
        #expect(parsed.force)
        #expect(parsed.global.flags == CLIConfig.Flags(hub: "https://127.0.0.1:8443"))
    }

    @Test func badLabelIsAUsageErrorNamingTheFlag() {
        do {
            _ = try KubeheroCommand.parseAsRoot(add + ["--label", "team"])
            Issue.record("a bad label was accepted")
        } catch {
            #expect(KubeheroCommand.exitCode(for: error).rawValue == 64)
            #expect(KubeheroCommand.usageLine(for: error) == "error: --label: expected key=value, got \"team\" (see 'kubehero cluster add --help')")
        }
    }

    @Test func badClusterNameIsRefusedBeforeAnythingIsSent() {
        do {
            _ = try KubeheroCommand.parseAsRoot(["cluster", "add", "--name", "Prod_1", "--cloud", "aws", "--region", "r"])
            Issue.record("an invalid name was accepted")
        } catch {
            #expect(KubeheroCommand.message(for: error).hasPrefix("--name: \"Prod_1\" is not a valid name"))
        }
    }

    @Test func unknownCloudIsRefused() {
        do {
            _ = try KubeheroCommand.parseAsRoot(["cluster", "add", "--name", "a", "--cloud", "ibm", "--region", "r"])
            Issue.record("an unknown cloud was accepted")
        } catch {
            #expect(KubeheroCommand.message(for: error) == "--cloud: \"ibm\" is not one of aws, gcp, azure, other")
        }
    }

    @Test func costFlagsAreCheckedLocally() throws {
        let ok = try #require(try KubeheroCommand.parseAsRoot(["cost", "--window", "7d", "--aggregate", "label:team", "--step", "1d", "-o", "yaml", "--namespace", "web"]) as? CostCommand)
        #expect(ok.output.output == .yaml)
        #expect(ok.filter.filter == HubClient.Filter(namespace: "web"))

        for (args, message) in [
            (["cost", "--aggregate", "team"], "--aggregate: \"team\" is not one of cluster, node, namespace, pod, container, label:KEY"),
            (["cost", "--window", "7"], "--window: \"7\" is not a duration: use a positive number and one of s, m, h, d, w (e.g. 24h, 7d)"),
            (["series", "--step", "1x"], "--step: \"1x\" has unknown unit 'x': use one of s, m, h, d, w"),
        ] {
            do {
                _ = try KubeheroCommand.parseAsRoot(args)
                Issue.record("\(args) was accepted")
            } catch {
                #expect(KubeheroCommand.message(for: error) == message)
            }
        }
    }

    @Test func missingFlagIsOneUsageLine() {
        do {
            _ = try KubeheroCommand.parseAsRoot(["cluster", "add", "--cloud", "aws"])
            Issue.record("a missing --name was accepted")
        } catch {
            #expect(KubeheroCommand.exitCode(for: error) == .validationFailure)
            #expect(KubeheroCommand.usageLine(for: error) == "error: Missing expected argument '--name <name>' (see 'kubehero cluster add --help')")
        }
    }

    @Test func ingestAddressComesFromTheHubHost() {
        #expect(ClusterCommand.ingestAddress(hubURL: "https://hub.example.com:8443") == "hub.example.com:9443")
        #expect(ClusterCommand.ingestAddress(hubURL: "https://[::1]:8443/api") == "[::1]:9443")
        #expect(ClusterCommand.ingestAddress(hubURL: "http://10.0.0.5") == "10.0.0.5:9443")
    }
}
