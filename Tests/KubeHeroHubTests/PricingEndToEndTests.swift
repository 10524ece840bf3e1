import Foundation
import KubeHeroCLI
import KubeHeroCore
import KubeHeroIngestClient
import KubeHeroPricing
import KubeHeroTestSupport
import Testing

/// Price versions through a real hub: an import takes effect at its time, samples before it keep
/// their prices, and only an explicit re-price changes them.
///
/// The batches are one minute of `search/indexer` on an m5.large node (version 1: $0.096/h, so the
/// node-minute costs 0.096 * 60 / 3600 = 1,600,000 nano-USD). Version 2 doubles m5.large to
/// $0.192/h: 3,200,000 per node-minute. Allocated + idle is the node's cost, so the cluster's
/// total is the sum of its node-minutes.
@Suite("Pricing end to end")
struct PricingEndToEndTests {
    @Test("an imported price version prices samples from its effective time on; re-pricing is explicit")
    func importMidWindowThenReprice() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("prod")
            let second = recentMinute()
            let first = second - 60_000
            let container = [EndToEndTests.twoContainers()[1]]
            try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                _ = try await stream.sendAndWait(minuteBatch(sequence: 1, minuteStartMillis: first, containers: container))
            }

            var catalog = try PricingCatalog.load(path: TestHub.repositoryRoot + "/pricing/aws.json")
            catalog.clouds["aws"]!.regions["us-east-1"]!["m5.large"]!.onDemandHourlyUSD = "0.192"
            let data = Data(catalog.canonicalJSON().utf8)
            let imported = try await hub.withClient { try await $0.importPrices(data, origin: "doubled.json", effectiveAt: Timestamp.rfc3339(millis: second)) }
            #expect(imported.imported)
            #expect(imported.version.changes.contains("~ aws/us-east-1/m5.large on-demand 0.096 -> 0.192"))
            let again = try await hub.withClient { try await $0.importPrices(data, origin: "doubled.json", effectiveAt: nil) }
            #expect(!again.imported, "the same catalog twice is one version")

            try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                _ = try await stream.sendAndWait(minuteBatch(sequence: 2, minuteStartMillis: second, containers: container))
            }
            func clusterTotal() async throws -> Int64 {
                let costs = try await hub.withClient { try await $0.costs(.init(window: "1h", aggregate: "cluster")) }
                return costs.steps[0].groups.reduce(0) { $0 + $1.totalCostNanoUSD }
            }
            #expect(try await clusterTotal() == 1_600_000 + 3_200_000, "each minute priced with the version in force at its time")

            let rates = try await hub.withClient { try await $0.pricingRates([("cluster", "prod"), ("node", "node-a")]) }
            #expect(rates.priceVersion == imported.version.id && rates.source == "catalog" && rates.nodeHourlyUSD == "0.192")
            let before = try await hub.withClient { try await $0.pricingRates([("cloud", "aws"), ("region", "us-east-1"), ("type", "m5.large"), ("at", Timestamp.rfc3339(millis: first))]) }
            #expect(before.nodeHourlyUSD == "0.096" && before.priceVersion == 1)

            let repriced = try await hub.withClient {
                try await $0.reprice(RepriceRequest(from: Timestamp.rfc3339(millis: first), to: Timestamp.rfc3339(millis: second + 60_000)))
            }
            #expect(repriced.nodeMinutes == 2 && repriced.totalBeforeNanoUSD == 4_800_000 && repriced.totalAfterNanoUSD == 6_400_000)
            #expect(try await clusterTotal() == 6_400_000)
            let versions = try await hub.withClient { try await $0.priceVersions() }
            #expect(versions.versions.map(\.id) == [1, imported.version.id])
        }
    }

    @Test("a malformed catalog is refused by the hub naming origin, JSON path and reason, and nothing is imported")
    func malformedImportRefused() async throws {
        try await withTestHub { hub in
            let body = Data(#"{"schemaVersion": 2, "source": "x", "date": "y", "defaultRates": {"cpuCoreHourUSD": 1}}"#.utf8)
            do {
                _ = try await hub.withClient { try await $0.importPrices(body, origin: "broken.json", effectiveAt: nil) }
                Issue.record("a broken catalog was imported")
            } catch {
                #expect("\(error)".contains("broken.json $.defaultRates.cpuCoreHourUSD"), "\(error)")
            }
            let versions = try await hub.withClient { try await $0.priceVersions() }
            #expect(versions.versions.count == 1)
        }
    }
}
