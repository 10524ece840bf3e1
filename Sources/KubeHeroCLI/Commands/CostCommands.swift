import ArgumentParser
import KubeHeroCore

/// `--cluster`, `--namespace`, ... : which rows a query covers.
public struct FilterOptions: ParsableArguments {
    @Option(help: "Only this cluster.") public var cluster: String?
    @Option(help: "Only this node.") public var node: String?
    @Option(help: "Only this namespace.") public var namespace: String?
    @Option(help: "Only this pod.") public var pod: String?
    @Option(help: "Only this container.") public var container: String?

    public init() {}

    public var filter: HubClient.Filter {
        HubClient.Filter(cluster: cluster, node: node, namespace: namespace, pod: pod, container: container)
    }

    func check() throws(KubeHeroCore.ValidationError) {
        for (flag, value) in [("--cluster", cluster), ("--node", node), ("--namespace", namespace), ("--pod", pod), ("--container", container)] {
            if let value, value.isEmpty || value.utf8.count > 253 {
                throw KubeHeroCore.ValidationError(field: flag, "must be 1-253 characters")
            }
        }
    }
}

/// A `--window`: a duration ending now (`24h`, `7d`) or `START,END` in RFC 3339, which the hub parses.
func checkWindow(_ window: String) throws(KubeHeroCore.ValidationError) {
    if !window.contains(",") { _ = try DurationText.parseMillis(window, field: "--window") }
}

/// `kubehero cost`: what groups of workloads cost over a window.
public struct CostCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "Show cost by namespace, cluster, node, pod, container or label over a window.",
        aliases: ["costs"]
    )

    @OptionGroup public var global: GlobalOptions

    @Option(help: "Time window: a duration ending now (24h, 7d) or START,END in RFC 3339.")
    public var window = "24h"

    @Option(help: ArgumentHelp("Group by namespace, cluster, node, pod, container or label:KEY.", valueName: "grouping"))
    public var aggregate = "namespace"

    @Option(help: "Split the window into steps of this length (e.g. 1d), one table per step.")
    public var step: String?

    @OptionGroup public var filter: FilterOptions
    @OptionGroup public var output: OutputOptions

    public init() {}

    public func validate() throws {
        try checkFlags {
            try checkWindow(window)
            _ = try Aggregation(parsing: aggregate, field: "--aggregate")
            if let step { _ = try DurationText.parseMillis(step, field: "--step") }
            try filter.check()
        }
    }

    public func run() async throws {
        let config = try global.resolve()
        let query = HubClient.CostsQuery(window: window, aggregate: aggregate, step: step, filter: filter.filter)
        let response = try await HubClient.withClient(config) { try await $0.costs(query) }
        print(try StructuredOutput.render(response, as: output.output, table: Tables.costs))
    }
}

/// `kubehero series`: cost and usage over time.
public struct SeriesCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "series",
        abstract: "Show cost and usage over time, one row per step."
    )

    @OptionGroup public var global: GlobalOptions

    @Option(help: "Time window: a duration ending now (1h, 7d) or START,END in RFC 3339.")
    public var window = "1h"

    @Option(help: "Length of each point: whole minutes (1m, 1h).")
    public var step = "1m"

    @OptionGroup public var filter: FilterOptions
    @OptionGroup public var output: OutputOptions

    public init() {}

    public func validate() throws {
        try checkFlags {
            try checkWindow(window)
            _ = try DurationText.parseMillis(step, field: "--step")
            try filter.check()
        }
    }

    public func run() async throws {
        let config = try global.resolve()
        let query = HubClient.SeriesQuery(window: window, step: step, filter: filter.filter)
        let response = try await HubClient.withClient(config) { try await $0.series(query) }
        print(try StructuredOutput.render(response, as: output.output, table: Tables.series))
    }
}
