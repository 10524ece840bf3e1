import KubeHeroCore
import SwiftProtobuf

// Conversions between KubeHeroCore's value types and the generated protobuf messages. The
// rest of KubeHero works with `UsageBatch`; only the two ends of the stream see protobuf.

public typealias WireAgentMessage = Kubehero_Wire_V1_AgentMessage
public typealias WireHubMessage = Kubehero_Wire_V1_HubMessage
public typealias WireUsageBatch = Kubehero_Wire_V1_UsageBatch
public typealias WireIngest = Kubehero_Wire_V1_Ingest

/// Largest encoded message either side accepts: a 10,000-container batch of 60 ticks is about
/// 6 MB; anything beyond this is refused before it is decoded.
public let wireMaxMessageBytes = 16 * 1024 * 1024

extension Kubehero_Wire_V1_UsageBatch {
    /// Encodes a batch for the wire (memory as deltas, network only for classes with traffic).
    public init(_ batch: UsageBatch) {
        self.init()
        agentInstanceID = batch.agentInstanceID
        sequence = batch.sequence
        node = .with {
            $0.name = batch.node.name
            $0.instanceType = batch.node.instanceType
            $0.region = batch.node.region
            $0.zone = batch.node.zone
            $0.capacityType = .init(batch.node.capacityType)
            $0.cpuCapacityMillicores = batch.node.cpuCapacityMillicores
            $0.memoryCapacityBytes = batch.node.memoryCapacityBytes
            $0.gpuCount = batch.node.gpuCount
            $0.hourlyPriceOverride = batch.node.hourlyPriceOverride
        }
        windowStartUnixMs = batch.windowStartUnixMillis
        tickMillis = batch.tickMillis
        tickCount = UInt32(clamping: batch.tickCount)
        droppedTicks = batch.droppedTicks
        droppedBatches = batch.droppedBatches
        source = batch.source == .ebpf ? .ebpf : .cgroupfs
        containers = batch.containers.map(Kubehero_Wire_V1_ContainerSeries.init)
    }
}

extension Kubehero_Wire_V1_ContainerSeries {
    public init(_ c: ContainerSamples) {
        self.init()
        cgroupID = c.cgroupID
        namespace = c.identity.namespace
        pod = c.identity.pod
        container = c.identity.container
        podUid = c.identity.podUID
        labels = c.identity.labels
        ownerKind = c.identity.ownerKind
        ownerName = c.identity.ownerName
        cpuRequestMillicores = c.identity.cpuRequestMillicores
        memoryRequestBytes = c.identity.memoryRequestBytes
        cpuLimitMillicores = c.identity.cpuLimitMillicores
        memoryLimitBytes = c.identity.memoryLimitBytes
        gpuRequest = c.identity.gpuRequest
        volumes = c.identity.volumes.map { v in
            .with {
                $0.claimName = v.claimName
                $0.storageClass = v.storageClass
                $0.requestBytes = v.requestBytes
            }
        }
        firstTick = UInt32(clamping: c.firstTick)
        cpuNanos = c.cpuNanos
        var deltas = [Int64]()
        deltas.reserveCapacity(c.memoryWorkingSetBytes.count)
        var previous: Int64 = 0
        for v in c.memoryWorkingSetBytes {
            let value = Int64(clamping: v)
            deltas.append(value &- previous)
            previous = value
        }
        memoryWorkingSetDelta = deltas
        networkEgress = NetworkClass.allCases.compactMap { cls in
            guard let column = c.networkEgressBytes[cls], column.contains(where: { $0 != 0 }) else { return nil }
            return .with {
                $0.class = .init(cls)
                $0.bytes = column
            }
        }
    }
}

extension UsageBatch {
    /// Decodes a wire batch. Structural problems (unknown enum values, a memory column that
    /// goes negative, repeated network classes) are reported naming the field; the result
    /// still needs `validate()` for sizes and names.
    public init(wire: Kubehero_Wire_V1_UsageBatch) throws(ValidationError) {
        let n = wire.node
        let capacity: CapacityType
        switch n.capacityType {
        case .unspecified: capacity = .unknown
        case .onDemand: capacity = .onDemand
        case .spot: capacity = .spot
        case .UNRECOGNIZED(let v): throw ValidationError(field: "node.capacityType", "unknown value \(v)")
        }
        let source: SampleSource
        switch wire.source {
        case .cgroupfs: source = .cgroupfs
        case .ebpf: source = .ebpf
        case .UNRECOGNIZED(let v): throw ValidationError(field: "source", "unknown value \(v)")
        }
        var containers = [ContainerSamples]()
        containers.reserveCapacity(wire.containers.count)
        for (i, c) in wire.containers.enumerated() {
            do throws(ValidationError) {
                containers.append(try ContainerSamples(wire: c))
            } catch {
                throw error.nested(in: "containers[\(i)]")
            }
        }
        self.init(
            agentInstanceID: wire.agentInstanceID,
            sequence: wire.sequence,
            node: NodeInfo(
                name: n.name, instanceType: n.instanceType, region: n.region, zone: n.zone, capacityType: capacity,
                cpuCapacityMillicores: n.cpuCapacityMillicores, memoryCapacityBytes: n.memoryCapacityBytes, gpuCount: n.gpuCount,
                hourlyPriceOverride: n.hourlyPriceOverride
            ),
            windowStartUnixMillis: wire.windowStartUnixMs,
            tickMillis: wire.tickMillis,
            tickCount: Int(wire.tickCount),
            containers: containers,
            droppedTicks: wire.droppedTicks,
            droppedBatches: wire.droppedBatches,
            source: source
        )
    }
}

extension ContainerSamples {
    init(wire c: Kubehero_Wire_V1_ContainerSeries) throws(ValidationError) {
        var memory = [UInt64]()
        memory.reserveCapacity(c.memoryWorkingSetDelta.count)
        var running: Int64 = 0
        for (i, d) in c.memoryWorkingSetDelta.enumerated() {
            let (next, overflow) = running.addingReportingOverflow(d)
            if overflow || next < 0 {
                throw ValidationError(field: "memoryWorkingSetDelta[\(i)]", "working set would be \(overflow ? "out of range" : "negative (\(next) bytes)")")
            }
            running = next
            memory.append(UInt64(next))
        }
        var network = [NetworkClass: [UInt64]]()
        for (i, column) in c.networkEgress.enumerated() {
            let cls: NetworkClass
            switch column.class {
            case .sameNode: cls = .sameNode
            case .sameZone: cls = .sameZone
            case .crossZone: cls = .crossZone
            case .internet: cls = .internet
            case .crossRegion: cls = .crossRegion
            case .UNRECOGNIZED(let v): throw ValidationError(field: "networkEgress[\(i)].class", "unknown value \(v)")
            }
            if network[cls] != nil {
                throw ValidationError(field: "networkEgress[\(i)].class", "\(cls.rawValue) appears twice")
            }
            network[cls] = column.bytes
        }
        self.init(
            cgroupID: c.cgroupID,
            identity: ContainerIdentity(
                namespace: c.namespace, pod: c.pod, container: c.container, podUID: c.podUid, labels: c.labels,
                ownerKind: c.ownerKind, ownerName: c.ownerName, cpuRequestMillicores: c.cpuRequestMillicores,
                memoryRequestBytes: c.memoryRequestBytes, cpuLimitMillicores: c.cpuLimitMillicores,
                memoryLimitBytes: c.memoryLimitBytes, gpuRequest: c.gpuRequest,
                volumes: c.volumes.map { VolumeClaim(claimName: $0.claimName, storageClass: $0.storageClass, requestBytes: $0.requestBytes) }
            ),
            firstTick: Int(c.firstTick),
            cpuNanos: c.cpuNanos,
            memoryWorkingSetBytes: memory,
            networkEgressBytes: network
        )
    }
}

extension Kubehero_Wire_V1_CapacityType {
    init(_ c: CapacityType) {
        switch c {
        case .onDemand: self = .onDemand
        case .spot: self = .spot
        case .unknown: self = .unspecified
        }
    }
}

extension Kubehero_Wire_V1_NetworkClass {
    init(_ c: NetworkClass) {
        switch c {
        case .sameNode: self = .sameNode
        case .sameZone: self = .sameZone
        case .crossZone: self = .crossZone
        case .internet: self = .internet
        case .crossRegion: self = .crossRegion
        }
    }
}
