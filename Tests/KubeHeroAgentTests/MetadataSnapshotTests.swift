import Foundation
import KubeHeroAgent
import KubeHeroCore
import Testing

/// Every running container of a real-looking node maps from its cgroup to the right pod,
/// container, owner and requests.
@Suite("Metadata: pod snapshot")
struct MetadataSnapshotTests {
    static func snapshot(_ fixture: String) throws -> PodMetadataSnapshot {
        PodMetadataSnapshot(try MetadataFixtures.podList(fixture))
    }

    @Test("every running container maps to its identity by runtime id", arguments: MetadataFixtures.running)
    func mapsByContainerID(_ expected: MetadataFixtures.Expected) throws {
        let snapshot = try Self.snapshot(expected.fixture)
        var identity = try #require(snapshot.identity(for: expected.cgroup))
        #expect(!identity.labels.isEmpty)
        identity.labels = [:]
        #expect(identity == expected.identity)
    }

    @Test("the fixtures decode whole, with nothing refused")
    func fixturesDecode() throws {
        for (fixture, pods) in [(MetadataFixtures.containerdSystemd, 6), (MetadataFixtures.crioCgroupfs, 4), (MetadataFixtures.dockerCgroupfs, 3)] {
            let snapshot = try Self.snapshot(fixture)
            #expect(snapshot.podCount == pods, "\(fixture)")
            #expect(snapshot.problems.isEmpty, "\(fixture): \(snapshot.problems)")
        }
        #expect(try Self.snapshot(MetadataFixtures.containerdSystemd).nodeName == "ip-10-0-1-23.ec2.internal")
    }

    @Test("labels are the pod's labels")
    func labelsArePodLabels() throws {
        let web = MetadataFixtures.running[0]
        let identity = try #require(try Self.snapshot(web.fixture).identity(for: web.cgroup))
        #expect(identity.labels == ["app": "web", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d4b9c8f6"])
    }

    @Test("a pod's sandbox cgroup is named for the pod, with no requests", arguments: MetadataFixtures.sandboxes)
    func sandboxIsThePod(_ sandbox: MetadataFixtures.Sandbox) throws {
        let identity = try #require(try Self.snapshot(sandbox.fixture).identity(for: sandbox.cgroup))
        #expect(identity.namespace == sandbox.namespace)
        #expect(identity.pod == sandbox.pod)
        #expect(identity.container == PodMetadataSnapshot.sandboxContainerName)
        #expect(identity.podUID == sandbox.cgroup.podUID)
        #expect(identity.cpuRequestMillicores == 0 && identity.memoryRequestBytes == 0 && identity.gpuRequest == 0)
    }

    @Test("a cgroup without a container id maps to its pod's only container by pod UID")
    func singleContainerByPodUID() throws {
        let api = try #require(MetadataFixtures.running.first { $0.identity.pod == "api-6c5d8f7b9-k8s2m" })
        var cgroup = api.cgroup
        cgroup.containerID = nil
        var identity = try #require(try Self.snapshot(api.fixture).identity(for: cgroup))
        identity.labels = [:]
        #expect(identity == api.identity)
    }

    @Test("a container whose id is not known yet is its single-container pod's container")
    func singleContainerNotStartedYet() throws {
        let data = MetadataFixtures.onePod(resources: #"{"requests":{"cpu":"300m"}}"#, containerID: "")
        let snapshot = PodMetadataSnapshot(try KubeletPodList.decode(data, from: "test"))
        let cgroup = CgroupContainer(cgroupID: 9, path: "/p", podUID: "0b7a3c1e-5d2f-4e8a-9c6b-1f2e3d4c5b6a", containerID: String(repeating: "cd", count: 32))
        let identity = try #require(snapshot.identity(for: cgroup))
        #expect(identity.container == "app")
        #expect(identity.cpuRequestMillicores == 300)
    }

    @Test("a cgroup without a container id in a two-container pod is named for the pod")
    func twoContainersWithoutIDIsThePod() throws {
        let web = MetadataFixtures.running[0]
        var cgroup = web.cgroup
        cgroup.containerID = nil
        let identity = try #require(try Self.snapshot(web.fixture).identity(for: cgroup))
        #expect(identity.pod == "web-7d4b9c8f6-x2kqp")
        #expect(identity.container == PodMetadataSnapshot.sandboxContainerName)
    }

    @Test("pod UIDs and container ids match whatever their case")
    func caseInsensitive() throws {
        let web = MetadataFixtures.running[0]
        var cgroup = web.cgroup
        cgroup.containerID = cgroup.containerID?.uppercased()
        #expect(try Self.snapshot(web.fixture).identity(for: cgroup)?.container == "web")
    }

    @Test("a cgroup of a pod the snapshot does not know is not named")
    func unknownPod() throws {
        let snapshot = try Self.snapshot(MetadataFixtures.containerdSystemd)
        let stranger = CgroupContainer(cgroupID: 7, path: "/kubepods.slice/x", podUID: "11111111-2222-3333-4444-555555555555", containerID: String(repeating: "0", count: 64))
        #expect(snapshot.identity(for: stranger) == nil)
        #expect(snapshot.identity(for: CgroupContainer(cgroupID: 8, path: "/system.slice/sshd.service")) == nil)
    }

    @Test("a ReplicaSet owner is kept as given, not guessed into a Deployment")
    func replicaSetOwnerAsGiven() throws {
        let web = MetadataFixtures.running[0]
        let identity = try #require(try Self.snapshot(web.fixture).identity(for: web.cgroup))
        #expect(identity.ownerKind == "ReplicaSet")
        #expect(identity.ownerName == "web-7d4b9c8f6")
    }

    @Test("a GPU limit without a request counts as the request, as Kubernetes defaults it")
    func gpuLimitDefaultsRequest() throws {
        let data = MetadataFixtures.onePod(resources: #"{"limits":{"nvidia.com/gpu":"2","amd.com/gpu":"1","cpu":"2"},"requests":{"amd.com/gpu":"1","cpu":"500m"}}"#)
        let snapshot = PodMetadataSnapshot(try KubeletPodList.decode(data, from: "test"))
        let identity = try #require(snapshot.identity(for: CgroupContainer(cgroupID: 1, path: "/x", containerID: String(repeating: "ab", count: 32))))
        #expect(identity.gpuRequest == 3)
        #expect(identity.cpuRequestMillicores == 500)
        #expect(identity.cpuLimitMillicores == 2000)
    }

    @Test("a CPU or memory limit without a request counts as the request")
    func limitDefaultsRequest() throws {
        let data = MetadataFixtures.onePod(resources: #"{"limits":{"cpu":"1","memory":"1Gi"}}"#)
        let snapshot = PodMetadataSnapshot(try KubeletPodList.decode(data, from: "test"))
        let identity = try #require(snapshot.identity(for: CgroupContainer(cgroupID: 1, path: "/x", containerID: String(repeating: "ab", count: 32))))
        #expect(identity.cpuRequestMillicores == 1000)
        #expect(identity.memoryRequestBytes == 1 << 30)
    }

    @Test("a bad quantity is reported naming pod, container and field, and the container is still mapped with 0")
    func badQuantityKeepsContainer() throws {
        let data = MetadataFixtures.onePod(resources: #"{"requests":{"cpu":"250m","memory":"12XB"},"limits":{"memory":"1Gi","cpu":"lots"}}"#)
        let snapshot = PodMetadataSnapshot(try KubeletPodList.decode(data, from: "test"))
        let identity = try #require(snapshot.identity(for: CgroupContainer(cgroupID: 1, path: "/x", containerID: String(repeating: "ab", count: 32))))
        #expect(identity.container == "app")
        #expect(identity.cpuRequestMillicores == 250)
        #expect(identity.memoryRequestBytes == 0)
        #expect(identity.memoryLimitBytes == 1 << 30)
        #expect(identity.cpuLimitMillicores == 0)
        #expect(snapshot.problems.map(\.field) == [
            "pod[team-a/app-0].container[app].resources.requests.memory",
            "pod[team-a/app-0].container[app].resources.limits.cpu",
        ])
        #expect(snapshot.problems[0].reason.contains("\"12XB\" is not a Kubernetes quantity"))
    }

    @Test("one bad pod does not drop the others")
    func badPodKeepsNode() throws {
        var list = try MetadataFixtures.podList(MetadataFixtures.containerdSystemd)
        list.items[0].spec.containers[0].resources.requests["memory"] = "a lot"
        let snapshot = PodMetadataSnapshot(list)
        #expect(snapshot.problems.count == 1)
        for expected in MetadataFixtures.running where expected.fixture == MetadataFixtures.containerdSystemd {
            #expect(snapshot.identity(for: expected.cgroup)?.pod == expected.identity.pod)
        }
    }

    @Test("labels beyond what a batch accepts are dropped and reported")
    func tooManyLabels() throws {
        var list = try KubeletPodList.decode(MetadataFixtures.onePod(resources: "{}"), from: "test")
        for i in 0..<70 { list.items[0].metadata.labels["label-\(i < 10 ? "0" : "")\(i)"] = "v" }
        list.items[0].metadata.labels["bad key!"] = "v"
        let snapshot = PodMetadataSnapshot(list)
        let identity = try #require(snapshot.identity(for: CgroupContainer(cgroupID: 1, path: "/x", containerID: String(repeating: "ab", count: 32))))
        #expect(identity.labels.count == BatchLimits.standard.maxLabelsPerContainer)
        #expect(identity.labels["bad key!"] == nil)
        #expect(snapshot.problems.count == 2)
        try KubernetesNames.validateLabels(identity.labels, field: "labels")
    }
}

/// The names used when no kubelet answers: what the cgroup path says, always valid.
@Suite("Metadata: cgroup identity")
struct MetadataCgroupIdentityTests {
    @Test("a Kubernetes cgroup is named by pod UID and short container id in namespace unknown")
    func kubernetesCgroup() {
        let web = MetadataFixtures.running[0]
        let identity = PodMetadataSnapshot.cgroupOnly(for: web.cgroup, nodeName: "node-1")
        #expect(identity == ContainerIdentity(
            namespace: "unknown", pod: "42ceb952-d417-4541-a323-cf2f078b0ef9", container: "3a8ad9bb98ef",
            podUID: "42ceb952-d417-4541-a323-cf2f078b0ef9"
        ))
    }

    @Test("a cgroup found by --match is named by its parent and directory in namespace cgroup")
    func matchedCgroup() {
        let cgroup = CgroupContainer(cgroupID: 4242, path: "/system.slice/nginx.service")
        let identity = PodMetadataSnapshot.cgroupOnly(for: cgroup, nodeName: "node-1", outsideKubernetes: true)
        #expect(identity == ContainerIdentity(namespace: "cgroup", pod: "system.slice", container: "nginx.service"))
    }

    @Test("a --match cgroup with a container id uses the short id")
    func matchedDockerCgroup() {
        let id = "5f3e2d1c0b9a" + String(repeating: "7", count: 52)
        let cgroup = CgroupContainer(cgroupID: 1, path: "/system.slice/docker-\(id).scope", containerID: id, runtime: "docker")
        let identity = PodMetadataSnapshot.cgroupOnly(for: cgroup, nodeName: "node-1", outsideKubernetes: true)
        #expect(identity.namespace == "cgroup")
        #expect(identity.pod == "system.slice")
        #expect(identity.container == "5f3e2d1c0b9a")
    }

    @Test("a top-level cgroup takes the node's name as its pod")
    func topLevelCgroup() {
        let identity = PodMetadataSnapshot.cgroupOnly(for: CgroupContainer(cgroupID: 3, path: "/batchjobs"), nodeName: "node-1", outsideKubernetes: true)
        #expect(identity.pod == "node-1")
        #expect(identity.container == "batchjobs")
    }

    @Test("names are never empty and never longer than 253 bytes")
    func namesBounded() throws {
        let long = String(repeating: "é", count: 300)
        let cases = [
            CgroupContainer(cgroupID: 5, path: "/"),
            CgroupContainer(cgroupID: 6, path: "/\(long)/\(long)"),
            CgroupContainer(cgroupID: 7, path: "", podUID: "", containerID: ""),
        ]
        for cgroup in cases {
            for outside in [false, true] {
                let identity = PodMetadataSnapshot.cgroupOnly(for: cgroup, nodeName: "", outsideKubernetes: outside)
                for name in [identity.namespace, identity.pod, identity.container] {
                    #expect(!name.isEmpty && name.utf8.count <= 253, "\(cgroup.path): \(name.utf8.count) bytes")
                }
                let samples = ContainerSamples(cgroupID: cgroup.cgroupID, identity: identity, cpuNanos: [1], memoryWorkingSetBytes: [1])
                let batch = UsageBatch(
                    agentInstanceID: "a", sequence: 1, node: NodeInfo(name: "n"), windowStartUnixMillis: 1_795_003_200_000,
                    tickMillis: 1000, tickCount: 1, containers: [samples]
                )
                try batch.validate()
            }
        }
    }
}
