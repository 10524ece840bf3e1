import KubeHeroCore
import Testing

@testable import KubeHeroCLI

@Suite("Cost table: network cost by destination class")
struct CostTableNetworkTests {
    @Test("Classes with network cost get a column each after NETWORK, with their total")
    func classColumns() {
        let groups = [
            CostGroupResult(
                name: "payments", cpuCost: "1", ramCost: "0.5", networkCost: "0.12", totalCost: "1.62",
                totalCostNanoUSD: 1_620_000_000, networkCostByClass: ["same-node": "0", "same-zone": "0", "cross-zone": "0.03", "internet": "0.09"],
                cpuCoreHours: 10, cpuRequestCoreHours: 10, ramGiBHours: 1, ramRequestGiBHours: 1, efficiency: 1
            ),
            CostGroupResult(
                name: "search", cpuCost: "0.5", ramCost: "0.5", networkCost: "0.01", totalCost: "1.01",
                totalCostNanoUSD: 1_010_000_000, networkCostByClass: ["cross-zone": "0.01"],
                cpuCoreHours: 5, cpuRequestCoreHours: 5, ramGiBHours: 1, ramRequestGiBHours: 1, efficiency: 1
            ),
        ]
        let table = Tables.costs(CostsResponse(
            window: "1d", aggregate: "namespace", resolution: "hour",
            steps: [CostStepResult(start: "2026-11-01T00:00:00Z", end: "2026-11-02T00:00:00Z", groups: groups)]))
        let lines = table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines == [
            "NAME CPU RAM NETWORK NET CROSS-ZONE NET INTERNET TOTAL CPU CORE-H RAM GIB-H EFFICIENCY",
            "payments $1.00 $0.50 $0.12 $0.03 $0.09 $1.62 10.00 1.00 100.0%",
            "search $0.50 $0.50 $0.01 $0.01 $0.00 $1.01 5.00 1.00 100.0%",
            "TOTAL $1.50 $1.00 $0.13 $0.04 $0.09 $2.63 15.00 2.00 100.0%",
        ], "\(table)")
    }
}
