import KubeHeroAgent
import KubeHeroCore
import Testing

/// The node's instance type, place and billing model, from the labels clouds and Karpenter set.
@Suite("Metadata: node identity")
struct MetadataNodeInfoTests {
    @Test("an EKS Karpenter spot node")
    func karpenterSpot() {
        let node = NodeInfo.fromLabels([
            "node.kubernetes.io/instance-type": "m6i.2xlarge", "topology.kubernetes.io/region": "us-east-1",
            "topology.kubernetes.io/zone": "us-east-1b", "karpenter.sh/capacity-type": "spot",
        ], name: "ip-10-0-1-23.ec2.internal", cpuMillicores: 8000, memoryBytes: 32 << 30)
        #expect(node == NodeInfo(
            name: "ip-10-0-1-23.ec2.internal", instanceType: "m6i.2xlarge", region: "us-east-1", zone: "us-east-1b",
            capacityType: .spot, cpuCapacityMillicores: 8000, memoryCapacityBytes: 32 << 30
        ))
    }

    @Test("capacity type from each provider's label", arguments: [
        (["karpenter.sh/capacity-type": "on-demand"], CapacityType.onDemand),
        (["karpenter.sh/capacity-type": "reserved"], .onDemand),
        (["eks.amazonaws.com/capacityType": "SPOT"], .spot),
        (["eks.amazonaws.com/capacityType": "ON_DEMAND"], .onDemand),
        (["cloud.google.com/gke-spot": "true", "cloud.google.com/gke-nodepool": "spot-pool"], .spot),
        (["cloud.google.com/gke-preemptible": "true", "cloud.google.com/gke-nodepool": "p"], .spot),
        (["cloud.google.com/gke-nodepool": "default-pool"], .onDemand),
        (["kubernetes.azure.com/scalesetpriority": "spot", "kubernetes.azure.com/agentpool": "spotpool"], .spot),
        (["kubernetes.azure.com/agentpool": "nodepool1"], .onDemand),
        (["node.kubernetes.io/instance-type": "m5.large"], .unknown),
        ([:], .unknown),
    ] as [([String: String], CapacityType)])
    func capacityType(labels: [String: String], expected: CapacityType) {
        #expect(NodeInfo.fromLabels(labels, name: "n", cpuMillicores: 0, memoryBytes: 0).capacityType == expected)
    }

    @Test("deprecated beta labels are the fallback")
    func betaLabels() {
        let node = NodeInfo.fromLabels([
            "beta.kubernetes.io/instance-type": "n2-standard-4", "failure-domain.beta.kubernetes.io/region": "europe-west1",
            "failure-domain.beta.kubernetes.io/zone": "europe-west1-c",
        ], name: "gke-a", cpuMillicores: 4000, memoryBytes: 16 << 30)
        #expect(node.instanceType == "n2-standard-4")
        #expect(node.region == "europe-west1")
        #expect(node.zone == "europe-west1-c")
    }

    @Test("the current label wins over the beta one")
    func currentLabelWins() {
        let node = NodeInfo.fromLabels([
            "node.kubernetes.io/instance-type": "Standard_D4s_v5", "beta.kubernetes.io/instance-type": "old",
        ], name: "aks-1", cpuMillicores: 4000, memoryBytes: 16 << 30)
        #expect(node.instanceType == "Standard_D4s_v5")
    }

    @Test("no labels leave the fields empty, with the flags' capacity")
    func noLabels() {
        let node = NodeInfo.fromLabels([:], name: "bare-metal-7", cpuMillicores: 64000, memoryBytes: 256 << 30, gpuCount: 2)
        #expect(node == NodeInfo(name: "bare-metal-7", cpuCapacityMillicores: 64000, memoryCapacityBytes: 256 << 30, gpuCount: 2))
    }
}
