import ArgumentParser
import KubeHeroCore
import KubeHeroPricing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `kubehero pricing`: price versions, the rates in force, and explicit re-pricing.
public struct PricingCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pricing",
        abstract: "Import pricing catalogs, show the rates in force, re-price a past window.",
        subcommands: [Import.self, Show.self, Versions.self, Reprice.self]
    )

    public init() {}

    /// `kubehero pricing import --from FILE`: checks the catalog here (naming file, JSON path and
    /// reason), then imports it as a new price version and prints what changed.
    public struct Import: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Import a catalog file as a new price version.")

        @OptionGroup public var global: GlobalOptions
        @Option(help: ArgumentHelp("Catalog JSON file (schema: pricing/catalog.schema.json).", valueName: "path")) public var from: String
        @Option(help: "From when the version prices samples, RFC 3339 (default: now). Samples already stored keep their prices until `kubehero pricing reprice`.")
        public var effectiveAt: String?
        @OptionGroup public var output: OutputOptions

        public init() {}

        public func validate() throws {
            try checkFlags {
                if let effectiveAt, Timestamp.parseRFC3339(effectiveAt) == nil {
                    throw KubeHeroCore.ValidationError(field: "--effective-at", "\"\(effectiveAt)\" is not an RFC 3339 time")
                }
            }
        }

        public func run() async throws {
            // Checked here first, so that a broken file is reported before anything is sent.
            _ = try PricingCatalog.load(path: from)
            guard let data = FileManager.default.contents(atPath: from) else { throw CLIError("cannot read \(from)") }
            let config = try global.resolve()
            let response = try await HubClient.withClient(config) { try await $0.importPrices(data, origin: from, effectiveAt: effectiveAt) }
            print(try StructuredOutput.render(response, as: output.output, table: PricingTables.imported))
        }
    }

    /// `kubehero pricing show --cloud aws --region us-east-1 --type m5.xlarge [--spot]`, or
    /// `--cluster C --node N` for a node as its agent reported it.
    public struct Show: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show the rates in force for an instance type or a node, and where they came from.")

        @OptionGroup public var global: GlobalOptions
        @Option(help: "Cloud: aws, gcp or azure.") public var cloud: String?
        @Option(help: "Region, e.g. us-east-1.") public var region: String?
        @Option(help: "Instance type, e.g. m5.xlarge.") public var type: String?
        @Flag(help: "Spot (preemptible) capacity instead of on-demand.") public var spot = false
        @Option(help: "A registered cluster (with --node).") public var cluster: String?
        @Option(help: "A node of --cluster: its last reported type, region, capacity type and annotation.") public var node: String?
        @Option(help: "The time whose price version to show, RFC 3339 (default: now).") public var at: String?
        @OptionGroup public var output: OutputOptions

        public init() {}

        public func validate() throws {
            try checkFlags {
                if node != nil || cluster != nil {
                    guard node != nil, cluster != nil else { throw KubeHeroCore.ValidationError(field: "--node", "--node and --cluster go together") }
                    if cloud != nil || region != nil || type != nil || spot {
                        throw KubeHeroCore.ValidationError(field: "--node", "give either --cluster and --node, or --cloud, --region and --type")
                    }
                } else {
                    for (flag, value) in [("--cloud", cloud), ("--region", region), ("--type", type)] where value == nil {
                        throw KubeHeroCore.ValidationError(field: flag, "required (or --cluster and --node)")
                    }
                    if let cloud, Cloud(rawValue: cloud) == nil {
                        throw KubeHeroCore.ValidationError(field: "--cloud", "\"\(cloud)\" is not one of aws, gcp, azure, other")
                    }
                }
                if let at, Timestamp.parseRFC3339(at) == nil { throw KubeHeroCore.ValidationError(field: "--at", "\"\(at)\" is not an RFC 3339 time") }
            }
        }

        var queryItems: [(String, String)] {
            var items: [(String, String)]
            if let cluster, let node {
                items = [("cluster", cluster), ("node", node)]
            } else {
                items = [("cloud", cloud ?? ""), ("region", region ?? ""), ("type", type ?? "")]
                if spot { items.append(("spot", "true")) }
            }
            if let at { items.append(("at", at)) }
            return items
        }

        public func run() async throws {
            let config = try global.resolve()
            let response = try await HubClient.withClient(config) { try await $0.pricingRates(queryItems) }
            print(try StructuredOutput.render(response, as: output.output, table: PricingTables.rates))
        }
    }

    public struct Versions: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List price versions, oldest first.")

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var output: OutputOptions

        public init() {}

        public func run() async throws {
            let config = try global.resolve()
            let response = try await HubClient.withClient(config) { try await $0.priceVersions() }
            print(try StructuredOutput.render(response, as: output.output, table: PricingTables.versions))
        }
    }

    /// `kubehero pricing reprice --from T --to T`: the only way stored costs change price.
    public struct Reprice: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Price a past window again with a price version (default: the latest).",
            discussion: "Only 1-minute rows (within the minute retention) are re-priced; their hourly rollups follow. Storage keeps its price."
        )

        @OptionGroup public var global: GlobalOptions
        @Option(help: "Start of the window, RFC 3339, on a whole minute.") public var from: String
        @Option(help: "End of the window (exclusive), RFC 3339, on a whole minute.") public var to: String
        @Option(help: "Only this cluster.") public var cluster: String?
        @Option(help: "Price version id (see `kubehero pricing versions`).") public var version: Int64?
        @OptionGroup public var output: OutputOptions

        public init() {}

        public func validate() throws {
            try checkFlags {
                for (flag, value) in [("--from", from), ("--to", to)] where Timestamp.parseRFC3339(value) == nil {
                    throw KubeHeroCore.ValidationError(field: flag, "\"\(value)\" is not an RFC 3339 time")
                }
            }
        }

        public func run() async throws {
            let config = try global.resolve()
            let request = RepriceRequest(from: from, to: to, cluster: cluster, version: version)
            let response = try await HubClient.withClient(config) { try await $0.reprice(request) }
            print(try StructuredOutput.render(response, as: output.output, table: PricingTables.repriced))
        }
    }
}

/// The `-o table` views of the pricing answers.
enum PricingTables {
    static func rates(_ r: PricingRatesResponse) -> String {
        var lines = [
            "price version:   \(r.priceVersion == 0 ? "none (built-in rate card)" : String(r.priceVersion)) at \(r.at)",
            "node:            \(r.node.map { "\($0): " } ?? "")\(r.cloud)/\(r.region)/\(r.instanceType) \(r.capacityType)",
            "source:          \(r.source): \(r.sourceDetail)",
            "node per hour:   \(r.nodeHourlyUSD.map { "$" + $0 } ?? "unknown")",
            "capacity:        \(NumberText.quantity(r.capacity.cpuCores)) cores, \(NumberText.quantity(r.capacity.memoryGiB)) GiB, \(r.capacity.gpus) GPU\(r.capacity.gpuModel.map { " (\($0))" } ?? "")",
            "CPU core-hour:   $\(r.cpuCoreHourUSD)",
            "RAM GiB-hour:    $\(r.ramGiBHourUSD)",
            "GPU hour:        $\(r.gpuHourUSD)",
            "egress per GiB:  " + NetworkClass.allCases.map { "\($0.rawValue) $\(r.egressPerGiBUSD[$0.rawValue] ?? "0")" }.joined(separator: ", "),
            "storage GiB-mo:  default $\(r.defaultStorageGiBMonthUSD)"
                + r.storagePerGiBMonthUSD.sorted { $0.key < $1.key }.map { ", \($0.key) $\($0.value)" }.joined(),
        ]
        lines += r.warnings.map { "warning:         \($0)" }
        return lines.joined(separator: "\n")
    }

    static func versions(_ list: PriceVersionList) -> String {
        var table = TextTable(columns: [.init("VERSION", alignment: .right), .init("EFFECTIVE"), .init("IMPORTED"), .init("CHANGES", alignment: .right), .init("ORIGIN")])
        for v in list.versions {
            table.rows.append([String(v.id), v.effectiveAt, v.importedAt, String(v.changes.count), v.origin])
        }
        return table.render()
    }

    static func imported(_ r: PriceImportResponse) -> String {
        guard r.imported else { return "unchanged: the catalog equals price version \(r.version.id); nothing imported" }
        let head = "imported price version \(r.version.id), effective \(r.version.effectiveAt), \(r.version.changes.count) change\(r.version.changes.count == 1 ? "" : "s")"
        return ([head] + r.version.changes.map { "  " + $0 }).joined(separator: "\n")
    }

    static func repriced(_ r: RepriceResponse) -> String {
        "re-priced \(r.nodeMinutes) node-minutes with price version \(r.version): \(r.rowsChanged) rows changed, total $\(r.totalBefore) -> $\(r.totalAfter)"
    }
}
