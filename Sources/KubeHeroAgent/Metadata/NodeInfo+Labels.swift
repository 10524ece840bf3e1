import KubeHeroCore

extension NodeInfo {
    /// The node as its well-known labels describe it. Labels that are absent leave the field
    /// empty (`capacityType` `.unknown`); nothing is guessed beyond what a label or a cloud's
    /// documented default says.
    ///
    /// - instance type: `node.kubernetes.io/instance-type`, else `beta.kubernetes.io/instance-type`
    /// - zone, region: `topology.kubernetes.io/zone`/`region`, else the `failure-domain.beta` ones
    /// - capacity type: `karpenter.sh/capacity-type` (`spot`, `on-demand`),
    ///   `eks.amazonaws.com/capacityType` (`SPOT`, `ON_DEMAND`), `cloud.google.com/gke-spot` or
    ///   `cloud.google.com/gke-preemptible` = `true`, `kubernetes.azure.com/scalesetpriority` =
    ///   `spot`. A GKE node (`cloud.google.com/gke-nodepool`) or AKS node
    ///   (`kubernetes.azure.com/agentpool`) without its spot label is on-demand.
    ///
    /// ```swift
    /// NodeInfo.fromLabels(["node.kubernetes.io/instance-type": "m5.large", "karpenter.sh/capacity-type": "spot"],
    ///                     name: "ip-10-0-1-23", cpuMillicores: 2000, memoryBytes: 8 << 30)
    /// ```
    public static func fromLabels(
        _ labels: [String: String], name: String, cpuMillicores: UInt32, memoryBytes: UInt64, gpuCount: UInt32 = 0
    ) -> NodeInfo {
        func first(_ keys: String...) -> String {
            keys.lazy.compactMap { labels[$0] }.first { !$0.isEmpty } ?? ""
        }
        return NodeInfo(
            name: name,
            instanceType: first("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type"),
            region: first("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"),
            zone: first("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"),
            capacityType: capacityType(labels),
            cpuCapacityMillicores: cpuMillicores,
            memoryCapacityBytes: memoryBytes,
            gpuCount: gpuCount
        )
    }

    /// Spot or on-demand, from the labels of Karpenter, EKS, GKE and AKS.
    static func capacityType(_ labels: [String: String]) -> CapacityType {
        switch labels["karpenter.sh/capacity-type"]?.lowercased() {
        case "spot": return .spot
        // `reserved` is capacity reserved in advance, billed like on-demand rather than spot.
        case "on-demand", "reserved": return .onDemand
        default: break
        }
        switch labels["eks.amazonaws.com/capacityType"]?.uppercased() {
        case "SPOT": return .spot
        case "ON_DEMAND", "CAPACITY_BLOCK": return .onDemand
        default: break
        }
        if labels["cloud.google.com/gke-spot"]?.lowercased() == "true" || labels["cloud.google.com/gke-preemptible"]?.lowercased() == "true" {
            return .spot
        }
        switch labels["kubernetes.azure.com/scalesetpriority"]?.lowercased() {
        case "spot": return .spot
        case "regular": return .onDemand
        default: break
        }
        if labels["cloud.google.com/gke-nodepool"] != nil || labels["kubernetes.azure.com/agentpool"] != nil {
            return .onDemand
        }
        return .unknown
    }
}
