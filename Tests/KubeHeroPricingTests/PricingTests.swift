import Foundation
import KubeHeroCore
import KubeHeroPricing
import Testing

@Suite("Pricing")
struct PricingTests {
    static var repositoryPricing: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("pricing").path
    }

    static func catalog() throws -> PricingCatalog { try PricingCatalog.load(directory: repositoryPricing) }

    static func book() throws -> CatalogPriceBook {
        try CatalogPriceBook(catalog: catalog())
    }

    static func node(_ type: String, region: String = "us-east-1", capacity: CapacityType = .onDemand) -> NodeInfo {
        NodeInfo(name: "n", instanceType: type, region: region, capacityType: capacity)
    }

    @Test("the repository's catalogs load, validate and merge, each cloud keeping its source and date")
    func catalogLoads() throws {
        let catalog = try Self.catalog()
        #expect(catalog.clouds.keys.sorted() == ["aws", "azure", "gcp"])
        for (name, cloud) in catalog.clouds {
            #expect(cloud.source?.isEmpty == false, "\(name) states no source")
            #expect(cloud.date?.isEmpty == false, "\(name) states no date")
            #expect(cloud.regions.count >= 3, "\(name) has fewer than 3 regions")
        }
    }

    @Test("a node's price splits into CPU and RAM rates that add back up to the price")
    func split() throws {
        let rates = try Self.book().rates(cloud: .aws, region: "us-east-1", node: Self.node("m5.large"))
        // 0.096 * 0.031611 / (2*0.031611 + 8*0.004237) and likewise for RAM (see EndToEndTests).
        #expect(rates.cpuCoreHour.nanoUSD == 31_247_101)
        #expect(rates.ramGiBHour.nanoUSD == 4_188_225)
        #expect(abs(2 * rates.cpuCoreHour.nanoUSD + 8 * rates.ramGiBHour.nanoUSD - 96_000_000) <= 8)
        #expect(rates.source == .catalog(cloud: "aws", region: "us-east-1", instanceType: "m5.large", capacityType: .onDemand))
    }

    @Test("unknown instance types fall back to the default rate card and say why")
    func unknownType() throws {
        let rates = try Self.book().rates(cloud: .aws, region: "us-east-1", node: Self.node("x99.mega"))
        #expect(rates.cpuCoreHour.nanoUSD == 31_611_000)
        guard case .defaultRateCard(let reason) = rates.source else {
            Issue.record("expected default rate card, got \(rates.source)")
            return
        }
        #expect(reason.contains("x99.mega"))
    }

    @Test("a spot node without a known spot price is priced on-demand and tagged so")
    func spotFallback() throws {
        var catalog = try Self.catalog()
        catalog.clouds["aws"]!.regions["us-east-1"]!["m5.large"]!.spotHourlyUSD = nil
        let rates = try CatalogPriceBook(catalog: catalog).rates(cloud: .aws, region: "us-east-1", node: Self.node("m5.large", capacity: .spot))
        #expect(rates.source == .catalogOnDemandForSpot(cloud: "aws", region: "us-east-1", instanceType: "m5.large"))
        #expect(rates.cpuCoreHour.nanoUSD == 31_247_101)
    }

    @Test("a known spot price is used for spot nodes")
    func spotPrice() throws {
        var catalog = try Self.catalog()
        catalog.clouds["aws"]!.regions["us-east-1"]!["m5.large"]!.spotHourlyUSD = "0.048"
        let rates = try CatalogPriceBook(catalog: catalog).rates(cloud: .aws, region: "us-east-1", node: Self.node("m5.large", capacity: .spot))
        #expect(abs(rates.cpuCoreHour.nanoUSD - 31_247_101 / 2) <= 1)
    }

    @Test("absurd prices are refused as typos, naming the field")
    func absurdPrice() throws {
        var catalog = try Self.catalog()
        catalog.clouds["aws"]!.regions["us-east-1"]!["m5.large"]!.onDemandHourlyUSD = "9600"
        do {
            try catalog.validate()
            Issue.record("accepted $9600/h")
        } catch {
            #expect(error.path == #"$.clouds.aws.regions["us-east-1"]["m5.large"].onDemandHourlyUSD"#)
            #expect(error.reason.contains("typo"))
        }
    }

    @Test("a catalog file that is not JSON names the file")
    func badFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).json").path
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try PricingCatalog.load(path: path)
            Issue.record("accepted a broken file")
        } catch {
            #expect(error.file == path)
            #expect(error.path == "$")
            #expect(error.reason == "not valid JSON")
        }
    }

    @Test("allocation charges max(request, usage) per resource and network per class")
    func allocation() {
        let rates = NodeRates(cpuCoreHour: Money(nanoUSD: 3_600_000_000), ramGiBHour: Money(nanoUSD: 3_600_000_000),
                              egressPerGiB: [.zero, .zero, Money(nanoUSD: 10_000_000), Money(nanoUSD: 90_000_000), Money(nanoUSD: 20_000_000)], source: .defaultRateCard(reason: "test"))
        // $3.60 per core-hour = 1,000,000 nano-USD per core-second (likewise per GiB-second).
        let usage = Usage(cpuCoreNanos: 2_000_000_000, cpuRequestCoreNanos: 5_000_000_000, memoryByteSeconds: 3 << 30,
                          memoryRequestByteSeconds: 1 << 30, networkEgressBytes: [0, 5 << 30, 1 << 30, 2 << 30, 3 << 30], sampledMillis: 60_000)
        let cost = Allocation.cost(of: usage, at: rates)
        #expect(cost.cpu.nanoUSD == 5_000_000) // request (5 core-s) beats usage (2 core-s)
        #expect(cost.ram.nanoUSD == 3_000_000) // usage (3 GiB-s) beats request (1 GiB-s)
        #expect(cost.networkByClass.map(\.nanoUSD) == [0, 0, 10_000_000, 180_000_000, 60_000_000])
        #expect(cost.total.nanoUSD == 258_000_000)
    }
}
