import KubeHeroCore

/// A row's usage and cost as the flat list of integers every backend stores, one column each:
/// `Usage`'s fields, then `Cost`'s, network classes in `NetworkClass.allCases` order. One
/// definition, so that every backend names, writes and reads the columns in the same order.
public enum UsageFields {
    private static func networkColumns(_ prefix: String, _ classes: [NetworkClass]) -> [String] {
        classes.map { prefix + String($0.rawValue.map { $0 == "-" ? "_" : $0 }) }
    }

    public static let usageNames = usageNames(NetworkClass.allCases)
    public static let costNames = costNames(NetworkClass.allCases)
    /// The cost columns that make up a node's price (what idle is part of).
    public static let computeCostNames = ["cost_cpu", "cost_ram", "cost_gpu"]
    public static let names = usageNames + costNames

    private static func usageNames(_ classes: [NetworkClass]) -> [String] {
        ["cpu_ns", "cpu_req_ns", "mem_bs", "mem_req_bs"] + networkColumns("net_", classes) + ["sampled_ms", "gpu_req_ms", "storage_req_bs"]
    }
    private static func costNames(_ classes: [NetworkClass]) -> [String] {
        ["cost_cpu", "cost_ram"] + networkColumns("cost_net_", classes) + ["cost_gpu", "cost_storage"]
    }

    /// `names` as they were before the `cross-region` class: the columns the migrations written
    /// before it create and fill. Frozen, so that an old migration does the same on every
    /// database; the migration that adds a class adds its two columns to every usage table.
    public static let namesBeforeCrossRegion = usageNames([.sameNode, .sameZone, .crossZone, .internet]) + costNames([.sameNode, .sameZone, .crossZone, .internet])

    /// The columns of network class `c`, as `names` has them: bytes, then cost.
    public static func columns(of c: NetworkClass) -> (usage: String, cost: String) {
        (networkColumns("net_", [c])[0], networkColumns("cost_net_", [c])[0])
    }

    /// `names.count` values, in the order of `names`. Throws when a row does not have one
    /// network value per class.
    public static func values(_ usage: Usage, _ cost: Cost) throws -> [Int64] {
        let classes = NetworkClass.allCases.count
        guard usage.networkEgressBytes.count == classes, cost.networkByClass.count == classes else {
            throw StoreError(
                .backend,
                "a usage row has \(usage.networkEgressBytes.count) network usage and \(cost.networkByClass.count) network cost values; expected \(classes) of each"
            )
        }
        var out: [Int64] = [usage.cpuCoreNanos, usage.cpuRequestCoreNanos, usage.memoryByteSeconds, usage.memoryRequestByteSeconds]
        out.append(contentsOf: usage.networkEgressBytes)
        out.append(contentsOf: [usage.sampledMillis, usage.gpuRequestMillis, usage.storageRequestByteSeconds, cost.cpu.nanoUSD, cost.ram.nanoUSD])
        out.append(contentsOf: cost.networkByClass.map(\.nanoUSD))
        out.append(contentsOf: [cost.gpu.nanoUSD, cost.storage.nanoUSD])
        return out
    }

    /// Usage and cost from `names.count` values read by `next`, in the order of `names`.
    public static func read(_ next: () throws -> Int64) rethrows -> (Usage, Cost) {
        let classes = NetworkClass.allCases.indices
        let usage = Usage(
            cpuCoreNanos: try next(), cpuRequestCoreNanos: try next(), memoryByteSeconds: try next(), memoryRequestByteSeconds: try next(),
            networkEgressBytes: try classes.map { _ in try next() }, sampledMillis: try next(), gpuRequestMillis: try next(),
            storageRequestByteSeconds: try next()
        )
        let cost = Cost(
            cpu: Money(nanoUSD: try next()), ram: Money(nanoUSD: try next()), networkByClass: try classes.map { _ in Money(nanoUSD: try next()) },
            gpu: Money(nanoUSD: try next()), storage: Money(nanoUSD: try next())
        )
        return (usage, cost)
    }

    /// Element-wise `a + b`; throws instead of wrapping when a sum leaves the Int64 range
    /// (usage is kept exact: an overflow is an error, never a wrap or a rounding).
    public static func add(_ a: inout [Int64], _ b: [Int64]) throws {
        for i in a.indices {
            let (sum, overflow) = a[i].addingReportingOverflow(b[i])
            if overflow { throw StoreError(.backend, "a sum of \(names[i]) leaves the Int64 range") }
            a[i] = sum
        }
    }
}
