import KubeHeroCore

/// Cost of usage at given rates, and the split of a node's cost between its containers and
/// idle. All arithmetic is integer with 128-bit intermediates; each component of each row is
/// rounded once (half away from zero).
public enum Allocation {
    static let coreNanosPerHour: Int128 = 3_600 * 1_000_000_000
    static let byteSecondsPerGiBHour: Int128 = 1_073_741_824 * 3_600
    static let bytesPerGiB: Int128 = 1_073_741_824
    static let millisPerHour: Int128 = 3_600_000
    /// byte-milliseconds in a GiB-month of 730 hours.
    static let byteMillisPerGiBMonth: Int128 = 1_073_741_824 * 3_600_000 * Int128(PricingCatalog.hoursPerMonth)

    /// One container's cost: CPU and RAM at max(request, usage), GPUs at request, network per
    /// class at the egress rates, and each volume claim at its requested size and class.
    ///
    /// `volumes` are the claims behind `usage.storageRequestByteSeconds`; each is charged for
    /// `usage.sampledMillis`.
    public static func cost(of usage: Usage, volumes: [VolumeClaim] = [], at rates: NodeRates) -> Cost {
        let cpuBasis = Int128(max(usage.cpuCoreNanos, usage.cpuRequestCoreNanos))
        let ramBasis = Int128(max(usage.memoryByteSeconds, usage.memoryRequestByteSeconds))
        let cpu = Int128.scaled(cpuBasis, by: Int128(rates.cpuCoreHour.nanoUSD), over: coreNanosPerHour)
        let ram = Int128.scaled(ramBasis, by: Int128(rates.ramGiBHour.nanoUSD), over: byteSecondsPerGiBHour)
        let gpu = Int128.scaled(Int128(usage.gpuRequestMillis), by: Int128(rates.gpuHour.nanoUSD), over: millisPerHour)
        var network = [Money]()
        network.reserveCapacity(NetworkClass.allCases.count)
        for i in 0..<NetworkClass.allCases.count {
            let c = Int128.scaled(Int128(usage.networkEgressBytes[i]), by: Int128(rates.egressPerGiB[i].nanoUSD), over: bytesPerGiB)
            network.append(Money(nanoUSD: Int64(clamping: c)))
        }
        var storage: Int128 = 0
        for v in volumes {
            storage += Int128.scaled(
                Int128(v.requestBytes) * Int128(usage.sampledMillis), by: Int128(rates.storageGiBMonth(v.storageClass).nanoUSD),
                over: byteMillisPerGiBMonth
            )
        }
        return Cost(
            cpu: Money(nanoUSD: Int64(clamping: cpu)), ram: Money(nanoUSD: Int64(clamping: ram)), networkByClass: network,
            gpu: Money(nanoUSD: Int64(clamping: gpu)), storage: Money(nanoUSD: Int64(clamping: storage))
        )
    }

    /// The node's CPU, RAM and GPU cost over `observedMillis` (network and storage are not
    /// part of a node's price). The total is the hourly price times the time, rounded once;
    /// CPU and GPU are capacity times their rates, and RAM takes the rest, so that the three
    /// add up to the total exactly. Nil when the node's price is not known.
    public static func nodeCost(observedMillis: Int64, at rates: NodeRates) -> Cost? {
        guard let hourly = rates.nodeHourly else { return nil }
        let t = Int128(observedMillis)
        let total = Int128.scaled(Int128(hourly.nanoUSD), by: t, over: millisPerHour)
        let gpu = Int128.scaled(Int128(rates.gpuHour.nanoUSD) * Int128(rates.capacity.gpus), by: t, over: millisPerHour)
        let cpu = Int128.scaled(Int128(rates.cpuCoreHour.nanoUSD) * Int128(rates.capacity.cpuMillicores), by: t, over: millisPerHour * 1000)
        return Cost(
            cpu: Money(nanoUSD: Int64(clamping: cpu)), ram: Money(nanoUSD: Int64(clamping: total - cpu - gpu)),
            gpu: Money(nanoUSD: Int64(clamping: gpu))
        )
    }

    /// Idle for one node over `observedMillis`: the node's cost minus what its containers were
    /// allocated, per component (CPU, RAM, GPU). Allocated plus idle is the node's cost exactly,
    /// to the nano-dollar, because idle is taken as the difference after every allocated row
    /// has been rounded. Idle is negative when containers were charged for more than the node
    /// holds (requests above capacity). Zero when the node's price is not known.
    public static func idle(observedMillis: Int64, allocated: [Cost], at rates: NodeRates) -> Cost {
        guard let node = nodeCost(observedMillis: observedMillis, at: rates) else { return .zero }
        var sum = Cost.zero
        for c in allocated { sum.add(c) }
        return Cost(cpu: node.cpu - sum.cpu, ram: node.ram - sum.ram, gpu: node.gpu - sum.gpu)
    }
}
