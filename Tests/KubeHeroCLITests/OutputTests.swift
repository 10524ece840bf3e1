import KubeHeroCore
import Testing
import Yams

@testable import KubeHeroCLI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A small hand-made answer of `GET /v1/costs`.
func sampleCosts(steps: Int = 1) -> CostsResponse {
    let groups = [
        CostGroupResult(
            name: "default", cpuCost: "1.2345", ramCost: "0.5", networkCost: "0", totalCost: "1.7345",
            totalCostNanoUSD: 1_734_500_000, networkCostByClass: ["internet": "0"], cpuCoreHours: 12,
            cpuRequestCoreHours: 16, ramGiBHours: 0.5, ramRequestGiBHours: 1, efficiency: 0.875
        ),
        CostGroupResult(
            name: "kube-system", cpuCost: "0.01", ramCost: "0.02", networkCost: "0.003", totalCost: "0.033",
            totalCostNanoUSD: 33_000_000, cpuCoreHours: 0.25, cpuRequestCoreHours: 0.5, ramGiBHours: 1.5,
            ramRequestGiBHours: 2, efficiency: 0.5
        ),
    ]
    let starts = ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"]
    return CostsResponse(
        window: "\(steps)d", aggregate: "namespace", resolution: "hour",
        steps: (0..<steps).map { CostStepResult(start: starts[$0], end: starts[$0 + 1], groups: groups) }
    )
}

func sampleSeries() -> SeriesResponse {
    SeriesResponse(
        window: "2m", step: "1m", resolution: "minute", series: "namespace=default",
        points: [
            SeriesPointResult(
                start: "2026-11-01T00:00:00Z", totalCost: "0.0123", totalCostNanoUSD: 12_300_000, cpuCost: "0.01",
                ramCost: "0.0023", networkCost: "0", cpuCores: 1.5, memoryBytes: 1_610_612_736
            ),
            SeriesPointResult(
                start: "2026-11-01T00:01:00Z", totalCost: "0", totalCostNanoUSD: 0, cpuCost: "0",
                ramCost: "0", networkCost: "0", cpuCores: 0, memoryBytes: 512
            ),
        ]
    )
}

@Suite struct TableTests {
    @Test func costTableHasOneRowPerGroupAndATotal() {
        #expect(Tables.costs(sampleCosts()) == """
            NAME              CPU     RAM   NETWORK     TOTAL   CPU CORE-H   RAM GIB-H   EFFICIENCY
            default       $1.2345   $0.50     $0.00   $1.7345        12.00      0.5000        87.5%
            kube-system     $0.01   $0.02    $0.003    $0.033       0.2500        1.50        50.0%
            TOTAL         $1.2445   $0.52    $0.003   $1.7675        12.25        2.00        86.9%
            """)
    }

    @Test func costTableWithStepsHasASectionPerStep() {
        let text = Tables.costs(sampleCosts(steps: 2))
        let sections = text.split(separator: "\n\n", omittingEmptySubsequences: false)
        #expect(sections.count == 2)
        #expect(sections[0].hasPrefix("STEP 2026-11-01T00:00:00Z\nNAME "))
        #expect(sections[1].hasPrefix("STEP 2026-11-02T00:00:00Z\nNAME "))
        #expect(sections[1].hasSuffix(Tables.costs(sampleCosts(steps: 1))))
    }

    @Test func emptyCostTableStillTotals() {
        let empty = CostsResponse(window: "1h", aggregate: "namespace", resolution: "minute", steps: [
            CostStepResult(start: "2026-11-01T00:00:00Z", end: "2026-11-01T01:00:00Z", groups: []),
        ])
        #expect(Tables.costs(empty) == """
            NAME      CPU     RAM   NETWORK   TOTAL   CPU CORE-H   RAM GIB-H   EFFICIENCY
            TOTAL   $0.00   $0.00     $0.00   $0.00            0           0         0.0%
            """)
    }

    @Test func seriesTableShowsCoresAndHumanBytes() {
        #expect(Tables.series(sampleSeries()) == """
            START                    TOTAL     CPU       RAM   NETWORK   CPU CORES    MEMORY
            2026-11-01T00:00:00Z   $0.0123   $0.01   $0.0023     $0.00       1.500   1.5 GiB
            2026-11-01T00:01:00Z     $0.00   $0.00     $0.00     $0.00       0.000     512 B
            """)
    }

    @Test func clusterListShowsLabelsSortedAndNeverForNoBatch() {
        let clusters = [
            ClusterInfo(
                name: "prod-eu", cloud: .gcp, region: "europe-west1", labels: ["team": "data", "env": "prod"],
                createdAt: "2026-11-01T00:00:00Z", certificateSerial: "ab", certificateNotAfter: "2027-11-01T00:00:00Z"
            ),
            ClusterInfo(
                name: "dev", cloud: .other, region: "lab", labels: [:], createdAt: "2026-11-01T00:00:00Z",
                certificateSerial: "cd", certificateNotAfter: "2027-11-01T00:00:00Z", lastBatchAt: "2026-11-02T10:00:00Z"
            ),
        ]
        #expect(Tables.clusters(clusters) == """
            NAME      CLOUD   REGION         LABELS               CERTIFICATE EXPIRES    LAST BATCH
            prod-eu   gcp     europe-west1   env=prod,team=data   2027-11-01T00:00:00Z   never
            dev       other   lab            <none>               2027-11-01T00:00:00Z   2026-11-02T10:00:00Z
            """)
    }

    @Test func textTableRightAlignsNumbersAndTrimsTrailingSpace() {
        let table = TextTable(
            columns: [.init("NAME"), .init("TOTAL", alignment: .right), .init("NOTE")],
            rows: [["a", "$1.50", ""], ["longer-name", "$12.00", "x"]]
        )
        #expect(table.render() == "NAME           TOTAL   NOTE\na              $1.50\nlonger-name   $12.00   x")
    }

    @Test func numbersAreFormattedForPeople() {
        #expect(NumberText.fixed(1.5, decimals: 2) == "1.50")
        #expect(NumberText.fixed(-0.004, decimals: 2) == "0.00")
        #expect(NumberText.fixed(-2.25, decimals: 1) == "-2.3")
        #expect(NumberText.quantity(0.01234) == "0.0123")
        #expect(NumberText.quantity(1234.5) == "1234.50")
        #expect(NumberText.percent(0.5) == "50.0%")
        #expect(NumberText.bytes(0) == "0 B")
        #expect(NumberText.bytes(1023) == "1023 B")
        #expect(NumberText.bytes(1536) == "1.5 KiB")
        #expect(NumberText.bytes(3 * 1_073_741_824) == "3.0 GiB")
    }
}

@Suite struct StructuredOutputTests {
    @Test func costsRoundTripThroughJSON() throws {
        let text = try StructuredOutput.json(sampleCosts(steps: 2))
        #expect(try JSONDecoder().decode(CostsResponse.self, from: Data(text.utf8)) == sampleCosts(steps: 2))
    }

    @Test func costsRoundTripThroughYAML() throws {
        let text = try StructuredOutput.yaml(sampleCosts(steps: 2))
        #expect(try YAMLDecoder().decode(CostsResponse.self, from: text) == sampleCosts(steps: 2))
    }

    @Test func seriesAndClustersRoundTrip() throws {
        let series = sampleSeries()
        #expect(try YAMLDecoder().decode(SeriesResponse.self, from: try StructuredOutput.yaml(series)) == series)
        #expect(try JSONDecoder().decode(SeriesResponse.self, from: Data(try StructuredOutput.json(series).utf8)) == series)

        let list = ClusterList(clusters: [ClusterInfo(
            name: "a", cloud: .aws, region: "us-east-1", labels: ["env": "prod"], createdAt: "2026-11-01T00:00:00Z",
            certificateSerial: "01", certificateNotAfter: "2027-11-01T00:00:00Z", lastBatchAt: "2026-11-01T00:00:01Z"
        )])
        #expect(try YAMLDecoder().decode(ClusterList.self, from: try StructuredOutput.yaml(list)) == list)
        #expect(try JSONDecoder().decode(ClusterList.self, from: Data(try StructuredOutput.json(list).utf8)) == list)
    }

    @Test func keysAreSorted() throws {
        let json = try StructuredOutput.json(sampleSeries())
        let keys = ["\"points\"", "\"resolution\"", "\"series\"", "\"step\"", "\"window\""].map { json.firstRange(of: $0)!.lowerBound }
        #expect(keys == keys.sorted())
        let yaml = try StructuredOutput.yaml(sampleSeries())
        let yamlKeys = yaml.split(separator: "\n").filter { !$0.hasPrefix(" ") && !$0.hasPrefix("-") }.map { $0.split(separator: ":")[0] }
        #expect(yamlKeys == ["points", "resolution", "series", "step", "window"])
    }

    @Test func decimalStringsStayStringsInYAML() throws {
        // "0.5" unquoted would read back as a number; the API says it is a string.
        let yaml = try StructuredOutput.yaml(sampleCosts())
        #expect(yaml.contains("ramCost: '0.5'"))
    }
}
