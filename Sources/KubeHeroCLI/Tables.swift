import KubeHeroCore

/// The `-o table` views of the API's answers.
public enum Tables {
    /// One table per step (a `STEP <start>` heading above each when there are several): one
    /// row per group and a `TOTAL` row.
    ///
    /// ```
    /// NAME              CPU     RAM   NETWORK     TOTAL   CPU CORE-H   RAM GIB-H   EFFICIENCY
    /// default       $1.2345   $0.50     $0.00   $1.7345        12.00      0.5000        87.5%
    /// kube-system     $0.01   $0.02    $0.003    $0.033       0.2500        1.50        50.0%
    /// TOTAL         $1.2445   $0.52    $0.003   $1.7675        12.25        2.00        86.9%
    /// ```
    ///
    /// When some group has network cost, a column per destination class with cost follows
    /// `NETWORK` (`NET CROSS-ZONE`, `NET INTERNET`, ...).
    public static func costs(_ response: CostsResponse) -> String {
        if response.steps.count == 1 { return costs(response.steps[0]) }
        if response.steps.isEmpty { return costs(CostStepResult(start: "", end: "", groups: [])) }
        return response.steps.map { "STEP \($0.start)\n" + costs($0) }.joined(separator: "\n\n")
    }

    static func costs(_ step: CostStepResult) -> String {
        func classCost(_ g: CostGroupResult, _ c: NetworkClass) -> Money { Money(decimalUSD: g.networkCostByClass?[c.rawValue] ?? "0") ?? .zero }
        let classes = NetworkClass.allCases.filter { c in step.groups.contains { classCost($0, c) != .zero } }
        var table = TextTable(columns: [
            .init("NAME"), .init("CPU", alignment: .right), .init("RAM", alignment: .right),
            .init("NETWORK", alignment: .right),
        ] + classes.map { .init("NET " + $0.rawValue.uppercased(), alignment: .right) } + [
            .init("TOTAL", alignment: .right),
            .init("CPU CORE-H", alignment: .right), .init("RAM GIB-H", alignment: .right),
            .init("EFFICIENCY", alignment: .right),
        ])
        var byClass = [Money](repeating: .zero, count: classes.count)
        var cpu = Money.zero, ram = Money.zero, network = Money.zero, total = Money.zero
        var coreHours = 0.0, gibHours = 0.0
        // Efficiency of the whole is the groups' efficiencies weighted by their CPU+RAM cost,
        // the same weighting the hub uses within a group.
        var weightedEfficiency = 0.0, weight = 0.0
        for g in step.groups {
            table.rows.append(
                [g.name, dollars(g.cpuCost), dollars(g.ramCost), dollars(g.networkCost)] + classes.map { classCost(g, $0).formatted() } + [
                    dollars(g.totalCost), NumberText.quantity(g.cpuCoreHours), NumberText.quantity(g.ramGiBHours), NumberText.percent(g.efficiency),
                ])
            for (i, c) in classes.enumerated() { byClass[i] += classCost(g, c) }
            let groupCPU = Money(decimalUSD: g.cpuCost) ?? .zero
            let groupRAM = Money(decimalUSD: g.ramCost) ?? .zero
            cpu += groupCPU
            ram += groupRAM
            network += Money(decimalUSD: g.networkCost) ?? .zero
            total += Money(nanoUSD: g.totalCostNanoUSD)
            coreHours += g.cpuCoreHours
            gibHours += g.ramGiBHours
            let w = (groupCPU + groupRAM).dollars
            weightedEfficiency += g.efficiency * w
            weight += w
        }
        table.rows.append(
            ["TOTAL", cpu.formatted(), ram.formatted(), network.formatted()] + byClass.map { $0.formatted() } + [
                total.formatted(), NumberText.quantity(coreHours), NumberText.quantity(gibHours),
                NumberText.percent(weight > 0 ? weightedEfficiency / weight : 0),
            ])
        return table.render()
    }

    /// One row per point: `START TOTAL CPU RAM NETWORK CPU CORES MEMORY`.
    public static func series(_ response: SeriesResponse) -> String {
        var table = TextTable(columns: [
            .init("START"), .init("TOTAL", alignment: .right), .init("CPU", alignment: .right),
            .init("RAM", alignment: .right), .init("NETWORK", alignment: .right),
            .init("CPU CORES", alignment: .right), .init("MEMORY", alignment: .right),
        ])
        for p in response.points {
            table.rows.append([
                p.start, Money(nanoUSD: p.totalCostNanoUSD).formatted(), dollars(p.cpuCost), dollars(p.ramCost),
                dollars(p.networkCost), NumberText.fixed(p.cpuCores, decimals: 3), NumberText.bytes(p.memoryBytes),
            ])
        }
        return table.render()
    }

    /// `kubehero cluster list`.
    public static func clusters(_ clusters: [ClusterInfo]) -> String {
        var table = TextTable(columns: [
            .init("NAME"), .init("CLOUD"), .init("REGION"), .init("LABELS"), .init("CERTIFICATE EXPIRES"), .init("LAST BATCH"),
        ])
        for c in clusters {
            table.rows.append([
                c.name, c.cloud.rawValue, c.region, labels(c.labels),
                c.certificateNotAfter.isEmpty ? "-" : c.certificateNotAfter, c.lastBatchAt ?? "never",
            ])
        }
        return table.render()
    }

    /// `kubehero cluster get NAME`: one field per line.
    public static func cluster(_ c: ClusterInfo) -> String {
        let fields: [(String, String)] = [
            ("Name", c.name), ("Cloud", c.cloud.rawValue), ("Region", c.region), ("Labels", labels(c.labels)),
            ("Created", c.createdAt), ("Certificate serial", c.certificateSerial.isEmpty ? "-" : c.certificateSerial),
            ("Certificate expires", c.certificateNotAfter.isEmpty ? "-" : c.certificateNotAfter),
            ("Last batch", c.lastBatchAt ?? "never"),
        ]
        let width = fields.map(\.0.count).max()! + 1
        return fields.map { name, value in
            name + ":" + String(repeating: " ", count: width - name.count + 2) + value
        }.joined(separator: "\n")
    }

    /// `env=prod,team=data`, sorted; `<none>` when empty.
    static func labels(_ labels: [String: String]) -> String {
        labels.isEmpty ? "<none>" : labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// A decimal dollar string from the API (`"1.2345"`) as `$1.2345`, at least two decimals.
    static func dollars(_ decimal: String) -> String {
        Money(decimalUSD: decimal)?.formatted() ?? decimal
    }
}
