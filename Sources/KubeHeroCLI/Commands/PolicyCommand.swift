import ArgumentParser
import KubeHeroCore
import KubeHeroPolicy

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kubehero policy`: BudgetPolicy documents at the hub.
public struct PolicyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Apply, inspect, arm and disarm BudgetPolicy documents.",
        subcommands: [Apply.self, Get.self, List.self, Delete.self, Status.self, Arm.self, Disarm.self, Schema.self]
    )

    public init() {}

    public struct Apply: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Create or replace policies from YAML files or directories (*.yaml, *.yml, *.json); says created, changed or unchanged."
        )
        @OptionGroup public var global: GlobalOptions
        @Option(name: .shortAndLong, help: ArgumentHelp("A policy file or a directory of them; repeatable.", valueName: "file|dir"))
        var filename: [String]
        @OptionGroup public var output: OutputOptions
        public init() {}

        public func run() async throws {
            // Every document is checked before any is sent: a bad file changes nothing.
            let policies = try PolicyFiles.load(filename)
            let results = try await HubClient.withClient(try global.resolve()) { client in
                var out: [PolicyApplyResponse] = []
                for p in policies { out.append(try await client.applyPolicy(p)) }
                return out
            }
            print(try StructuredOutput.render(results, as: output.output) { results in
                results.map { "policy/\($0.policy.policy.name) \($0.result.rawValue)" }.joined(separator: "\n")
            })
        }
    }

    public struct Get: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show one policy (the document as stored, defaults filled in).")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The policy's name.") var name: String
        @Option(name: .shortAndLong, help: "Output format: yaml, json or table.") var output: OutputFormat = .yaml
        public init() {}

        public func run() async throws {
            let info = try await HubClient.withClient(try global.resolve()) { try await $0.getPolicy(name) }
            print(try StructuredOutput.render(info, as: output) { i in
                var table = TextTable(columns: [.init("NAME"), .init("CEILING"), .init("PERIOD"), .init("HARDSTOP"), .init("ARMED"), .init("REVISION"), .init("UPDATED")])
                table.rows.append([i.policy.name, i.policy.spec.ceiling.description, i.policy.spec.period.rawValue, "\(i.policy.spec.hardStop)", "\(i.armed)", "\(i.revision)", i.updatedAt])
                return table.render()
            })
        }
    }

    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List policies with their state.")
        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var output: OutputOptions
        public init() {}

        public func run() async throws {
            let list = try await HubClient.withClient(try global.resolve()) { try await $0.listPolicies() }
            print(try StructuredOutput.render(list, as: output.output) { Status.table($0.items) })
        }
    }

    public struct Delete: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Delete a policy (its enforcement is lifted).")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The policy's name.") var name: String
        public init() {}

        public func run() async throws {
            try await HubClient.withClient(try global.resolve()) { try await $0.deletePolicy(name) }
            print("policy/\(name) deleted")
        }
    }

    public struct Status: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Spend so far, forecast, percent of ceiling, state, last evaluation; with NAME also enforcement and cluster acknowledgements."
        )
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "A policy's name; all policies when left out.") var name: String?
        @OptionGroup public var output: OutputOptions
        public init() {}

        public func run() async throws {
            let config = try global.resolve()
            if let name {
                let status = try await HubClient.withClient(config) { try await $0.policyStatus(name) }
                print(try StructuredOutput.render(status, as: output.output) { s in
                    var text = Self.table([s])
                    text += "\nthresholds fired: \(s.firedThresholds.isEmpty ? "none" : s.firedThresholds.joined(separator: ", "))"
                    text += "\nperiod: \(s.periodStart ?? "-") to \(s.periodEnd ?? "-")"
                    text += "\nenforcing: \(s.enforcing ? "yes, since \(s.enforcingSince ?? "?")" : "no") (hardStop \(s.hardStop), humanArm \(s.humanArm), armed \(s.armed))"
                    var clusters = TextTable(columns: [.init("CLUSTER"), .init("ACKNOWLEDGED"), .init("SET"), .init("AT")])
                    for c in s.clusters { clusters.rows.append([c.name, c.acknowledged ? "yes" : "no", c.directive ?? "-", c.acknowledgedAt ?? "-"]) }
                    return text + "\n\n" + (s.clusters.isEmpty ? "no cluster matches the scope" : clusters.render())
                })
            } else {
                let list = try await HubClient.withClient(config) { try await $0.listPolicies() }
                print(try StructuredOutput.render(list, as: output.output) { Self.table($0.items) })
            }
        }

        static func table(_ items: [PolicyStatus]) -> String {
            var table = TextTable(columns: [
                .init("NAME"), .init("STATE"), .init("SPENT", alignment: .right), .init("FORECAST", alignment: .right), .init("CEILING"),
                .init("%", alignment: .right), .init("ENFORCING"), .init("EVALUATED"),
            ])
            for s in items {
                table.rows.append([
                    s.name, s.state, "$" + s.spent, "$" + s.forecast, s.ceiling, String(s.percentOfCeiling),
                    s.enforcing ? "yes" : "no", s.lastEvaluation ?? "-",
                ])
            }
            return table.render()
        }
    }

    public struct Arm: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Arm a policy's hard stop: enforced while the ceiling is breached.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The policy's name.") var name: String
        public init() {}

        public func run() async throws {
            let info = try await HubClient.withClient(try global.resolve()) { try await $0.setPolicyArmed(name, true) }
            print("policy/\(name) armed" + (info.policy.spec.hardStop ? "" : " (it has no hardStop: nothing will be enforced)"))
        }
    }

    public struct Disarm: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Disarm a policy's hard stop; any enforcement is lifted.")
        @OptionGroup public var global: GlobalOptions
        @Argument(help: "The policy's name.") var name: String
        public init() {}

        public func run() async throws {
            _ = try await HubClient.withClient(try global.resolve()) { try await $0.setPolicyArmed(name, false) }
            print("policy/\(name) disarmed")
        }
    }

    public struct Schema: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Print the BudgetPolicy JSON Schema or the Helm chart's CRD template (scripts/generate-policy-schema.sh writes both)."
        )
        @Flag(help: "The Helm chart's CRD template instead of the JSON Schema.") var crd = false
        public init() {}

        public func run() {
            print(crd ? PolicySchema.crdTemplate : PolicySchema.jsonSchema.json() + "\n", terminator: "")
        }
    }
}

/// Reads policy documents from files and directories, strictly, before anything is sent.
enum PolicyFiles {
    static let extensions = [".yaml", ".yml", ".json"]

    static func load(_ paths: [String]) throws -> [BudgetPolicy] {
        var files: [String] = []
        for path in paths {
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("-f \(path): no such file or directory")
            }
            if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
                // A directory may hold the JSON Schema next to the documents (policies/ does).
                let names = entries.filter { n in extensions.contains { n.hasSuffix($0) } && !n.hasSuffix(".schema.json") }.sorted()
                if names.isEmpty { throw CLIError("-f \(path): the directory has no .yaml, .yml or .json files") }
                files += names.map { (path.hasSuffix("/") ? path : path + "/") + $0 }
            } else {
                files.append(path)
            }
        }
        var policies: [BudgetPolicy] = []
        var seen: [String: String] = [:]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
            let text = String(decoding: data, as: UTF8.self)
            let documents: [BudgetPolicy]
            do throws(PolicyDocumentError) {
                documents = try BudgetPolicyParser.parseAll(yaml: text, source: file)
            } catch {
                throw CLIError(error.description)
            }
            for p in documents {
                if let other = seen[p.name] { throw CLIError("policy \"\(p.name)\" is defined in both \(other) and \(file)") }
                seen[p.name] = file
                policies.append(p)
            }
        }
        if policies.isEmpty { throw CLIError("no BudgetPolicy documents in \(paths.joined(separator: ", "))") }
        return policies
    }
}
