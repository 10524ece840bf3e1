import KubeHeroCore
import KubeHeroWire
import SwiftProtobuf
import Testing

/// What the agent knows of a node and a container survives the wire (serialized bytes) intact.
@Suite("Wire conversion")
struct WireConversionTests {
    @Test("the price annotation and volume claims survive encoding and decoding")
    func overrideAndVolumes() throws {
        let identity = ContainerIdentity(
            namespace: "payments", pod: "postgres-0", container: "postgres", podUID: "7f6e5d4c", labels: ["app": "postgres"],
            cpuRequestMillicores: 500, memoryRequestBytes: 1 << 30,
            volumes: [
                VolumeClaim(claimName: "data-postgres-0", storageClass: "gp3", requestBytes: 100 << 30),
                VolumeClaim(claimName: "postgres-0-scratch", requestBytes: 20 << 30),
            ]
        )
        let batch = UsageBatch(
            agentInstanceID: "agent-1", sequence: 7,
            node: NodeInfo(name: "ip-10-0-1-23", instanceType: "m5.xlarge", region: "us-east-1", zone: "us-east-1b",
                           capacityType: .spot, cpuCapacityMillicores: 4000, memoryCapacityBytes: 16 << 30, hourlyPriceOverride: "0.0712"),
            windowStartUnixMillis: 1_795_000_000_000, tickMillis: 1000, tickCount: 2,
            containers: [ContainerSamples(cgroupID: 42, identity: identity, firstTick: 0, cpuNanos: [1_000, 2_000], memoryWorkingSetBytes: [4096, 8192])],
            source: .cgroupfs
        )
        let bytes: [UInt8] = try WireUsageBatch(batch).serializedBytes()
        let decoded = try UsageBatch(wire: WireUsageBatch(serializedBytes: bytes))
        #expect(decoded == batch)
        #expect(decoded.node.hourlyPriceOverride == "0.0712")
        #expect(decoded.containers.first?.identity.volumes.count == 2)
    }
}
