import Foundation
import KubeHeroAgent
import KubeHeroCore
import Logging
import Synchronization
import Testing

/// Kubelet `/pods` answers recorded as fixtures, and the cgroups that go with them.
enum MetadataFixtures {
    /// The bytes of `Fixtures/kubelet/NAME`, from the test bundle (`resources: [.copy("Fixtures")]`).
    static func data(_ name: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: "Fixtures/kubelet/\(name)", withExtension: nil) else {
            throw MetadataTestError("fixture Fixtures/kubelet/\(name) is not in the test bundle")
        }
        return try Data(contentsOf: url)
    }

    /// The bytes of `Fixtures/api/NAME`: objects as the Kubernetes API server answers them.
    static func apiData(_ name: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: "Fixtures/api/\(name)", withExtension: nil) else {
            throw MetadataTestError("fixture Fixtures/api/\(name) is not in the test bundle")
        }
        return try Data(contentsOf: url)
    }

    static func podList(_ name: String) throws -> KubeletPodList {
        try KubeletPodList.decode(data(name), from: "fixture \(name)")
    }

    static let containerdSystemd = "pods-containerd-systemd.json"
    static let crioCgroupfs = "pods-crio-cgroupfs.json"
    static let dockerCgroupfs = "pods-docker-cgroupfs.json"
    static let truncated = "pods-truncated.json"

    /// A running container of a fixture, its cgroup as the walker reports it, and who it is.
    struct Expected: Sendable, CustomTestStringConvertible {
        var fixture: String
        var cgroup: CgroupContainer
        var identity: ContainerIdentity

        init(
            _ fixture: String, _ path: String, podUID: String, containerID: String, runtime: String, qos: String,
            namespace: String, pod: String, container: String, owner: (String, String),
            requests: (UInt32, UInt64), limits: (UInt32, UInt64), gpus: UInt32
        ) {
            self.fixture = fixture
            self.cgroup = CgroupContainer(
                cgroupID: UInt64(truncatingIfNeeded: path.hashValue), path: path, podUID: podUID,
                containerID: containerID, runtime: runtime, qosClass: qos
            )
            self.identity = ContainerIdentity(
                namespace: namespace, pod: pod, container: container, podUID: podUID, ownerKind: owner.0, ownerName: owner.1,
                cpuRequestMillicores: requests.0, memoryRequestBytes: requests.1,
                cpuLimitMillicores: limits.0, memoryLimitBytes: limits.1, gpuRequest: gpus
            )
        }

        var testDescription: String { "\(identity.namespace)/\(identity.pod)/\(identity.container)" }
    }

    /// A pod's sandbox (pause) cgroup: in the pod, but none of its containers.
    struct Sandbox: Sendable, CustomTestStringConvertible {
        var fixture: String
        var cgroup: CgroupContainer
        var namespace: String
        var pod: String

        init(_ fixture: String, _ path: String, podUID: String, containerID: String, runtime: String, qos: String, namespace: String, pod: String) {
            self.fixture = fixture
            self.cgroup = CgroupContainer(
                cgroupID: UInt64(truncatingIfNeeded: path.hashValue), path: path, podUID: podUID,
                containerID: containerID, runtime: runtime, qosClass: qos
            )
            self.namespace = namespace
            self.pod = pod
        }

        var testDescription: String { "\(namespace)/\(pod) sandbox" }
    }

    /// Every running container of the three fixtures. Paths are the v2 systemd layout for the
    /// containerd node and the v1 cgroupfs layout for the CRI-O and docker nodes.
    static let running: [Expected] = [
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod42ceb952_d417_4541_a323_cf2f078b0ef9.slice/cri-containerd-3a8ad9bb98ef71a0bd6592640171aa636acf9236cc7e35739d1ed30a6fe9bad5.scope",
            podUID: "42ceb952-d417-4541-a323-cf2f078b0ef9", containerID: "3a8ad9bb98ef71a0bd6592640171aa636acf9236cc7e35739d1ed30a6fe9bad5", runtime: "containerd", qos: "burstable",
            namespace: "shop", pod: "web-7d4b9c8f6-x2kqp", container: "web", owner: ("ReplicaSet", "web-7d4b9c8f6"),
            requests: (250, 268435456), limits: (1000, 536870912), gpus: 0
        ),
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod42ceb952_d417_4541_a323_cf2f078b0ef9.slice/cri-containerd-72e2d8a9d914667314829d0747f7f6f96e24b9b3ddac2657154507f0bb6a4b9d.scope",
            podUID: "42ceb952-d417-4541-a323-cf2f078b0ef9", containerID: "72e2d8a9d914667314829d0747f7f6f96e24b9b3ddac2657154507f0bb6a4b9d", runtime: "containerd", qos: "burstable",
            namespace: "shop", pod: "web-7d4b9c8f6-x2kqp", container: "envoy", owner: ("ReplicaSet", "web-7d4b9c8f6"),
            requests: (100, 134217728), limits: (0, 268435456), gpus: 0
        ),
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda4d653cf_936a_4b20_abb0_a8842e7846c4.slice/cri-containerd-049e82f67d597c65b87d8355566cea53f9428b7b08974d0044d68ac987994f28.scope",
            podUID: "a4d653cf-936a-4b20-abb0-a8842e7846c4", containerID: "049e82f67d597c65b87d8355566cea53f9428b7b08974d0044d68ac987994f28", runtime: "containerd", qos: "burstable",
            namespace: "shop", pod: "postgres-0", container: "postgres", owner: ("StatefulSet", "postgres"),
            requests: (1000, 2147483648), limits: (0, 2147483648), gpus: 0
        ),
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod085ac514_53db_4aa5_ace5_9b7169df9da5.slice/cri-containerd-c05da66074431d238424ddcf040c79cc9932bb87288fe634b43b93031e7b2f94.scope",
            podUID: "085ac514-53db-4aa5-ace5-9b7169df9da5", containerID: "c05da66074431d238424ddcf040c79cc9932bb87288fe634b43b93031e7b2f94", runtime: "containerd", qos: "burstable",
            namespace: "monitoring", pod: "node-exporter-8xk2p", container: "node-exporter", owner: ("DaemonSet", "node-exporter"),
            requests: (100, 67108864), limits: (200, 134217728), gpus: 0
        ),
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod63273bed_ee5f_498d_9626_dac68dd1b7e7.slice/cri-containerd-00cb8a935cf4c01e5a67651e8d0f3b1c798f8acd94a42440508446cd3e4bbf69.scope",
            podUID: "63273bed-ee5f-498d-9626-dac68dd1b7e7", containerID: "00cb8a935cf4c01e5a67651e8d0f3b1c798f8acd94a42440508446cd3e4bbf69", runtime: "containerd", qos: "burstable",
            namespace: "batch", pod: "report-28461120-7xk4m", container: "report", owner: ("Job", "report-28461120"),
            requests: (500, 1073741824), limits: (2000, 1073741824), gpus: 0
        ),
        // A native sidecar: an init container with restartPolicy Always, running beside the job.
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod63273bed_ee5f_498d_9626_dac68dd1b7e7.slice/cri-containerd-09ce730bfc0cd91ede44c780ab7767d3631562429a8141ab05b5c4973ca6ade7.scope",
            podUID: "63273bed-ee5f-498d-9626-dac68dd1b7e7", containerID: "09ce730bfc0cd91ede44c780ab7767d3631562429a8141ab05b5c4973ca6ade7", runtime: "containerd", qos: "burstable",
            namespace: "batch", pod: "report-28461120-7xk4m", container: "cloud-sql-proxy", owner: ("Job", "report-28461120"),
            requests: (50, 33554432), limits: (0, 0), gpus: 0
        ),
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-pod2fda348b_0135_4a0b_806d_1688cee91d99.slice/cri-containerd-ae15d6bb2b3b50f99d1c62fce02205ab6f99daf1160eff887c35eb4d9e8aeb64.scope",
            podUID: "2fda348b-0135-4a0b-806d-1688cee91d99", containerID: "ae15d6bb2b3b50f99d1c62fce02205ab6f99daf1160eff887c35eb4d9e8aeb64", runtime: "containerd", qos: "guaranteed",
            namespace: "ml", pod: "triton-5f7c6d9b8-qwe12", container: "triton", owner: ("ReplicaSet", "triton-5f7c6d9b8"),
            requests: (4000, 17179869184), limits: (4000, 17179869184), gpus: 1
        ),
        Expected(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podc5823c86_46b2_4be2_90b3_fd4d1722e668.slice/cri-containerd-4b585c24f30f874b9627c41a1ebfac596c3f67e57c21e22fbff3d4513eae9027.scope",
            podUID: "c5823c86-46b2-4be2-90b3-fd4d1722e668", containerID: "4b585c24f30f874b9627c41a1ebfac596c3f67e57c21e22fbff3d4513eae9027", runtime: "containerd", qos: "besteffort",
            namespace: "default", pod: "debug-shell", container: "debug-shell", owner: ("", ""),
            requests: (0, 0), limits: (0, 0), gpus: 0
        ),
        Expected(
            "pods-crio-cgroupfs.json", "/kubepods/burstable/poddf46eb6d-f111-4d1b-a6e3-368cfb4df983/crio-6c9a8bfb6ffeadd839ca20f18c1a49d41abe6522d6ba83a0824d36276379e96a",
            podUID: "df46eb6d-f111-4d1b-a6e3-368cfb4df983", containerID: "6c9a8bfb6ffeadd839ca20f18c1a49d41abe6522d6ba83a0824d36276379e96a", runtime: "crio", qos: "burstable",
            namespace: "payments", pod: "api-6c5d8f7b9-k8s2m", container: "api", owner: ("ReplicaSet", "api-6c5d8f7b9"),
            requests: (200, 268435456), limits: (500, 536870912), gpus: 0
        ),
        Expected(
            "pods-crio-cgroupfs.json", "/kubepods/pod7d22712c-92d6-47e2-9e4c-10024005cb7a/crio-d1e045a07d4b960a1ab23a5419076f89d9eb3d67d46b5f333eacc67c9ea6c58b",
            podUID: "7d22712c-92d6-47e2-9e4c-10024005cb7a", containerID: "d1e045a07d4b960a1ab23a5419076f89d9eb3d67d46b5f333eacc67c9ea6c58b", runtime: "crio", qos: "guaranteed",
            namespace: "payments", pod: "redis-0", container: "redis", owner: ("StatefulSet", "redis"),
            requests: (500, 1073741824), limits: (500, 1073741824), gpus: 0
        ),
        Expected(
            "pods-crio-cgroupfs.json", "/kubepods/pod80b08917-6333-4cea-9dc6-63ec7e831ba1/crio-821f7633effa09a2a25f6fd268426eff184d928eaab6c0bceca2a12f373f3163",
            podUID: "80b08917-6333-4cea-9dc6-63ec7e831ba1", containerID: "821f7633effa09a2a25f6fd268426eff184d928eaab6c0bceca2a12f373f3163", runtime: "crio", qos: "guaranteed",
            namespace: "kube-flannel", pod: "kube-flannel-ds-x7h2p", container: "kube-flannel", owner: ("DaemonSet", "kube-flannel-ds"),
            requests: (100, 52428800), limits: (100, 52428800), gpus: 0
        ),
        Expected(
            "pods-crio-cgroupfs.json", "/kubepods/besteffort/pode70cfef9-3116-44af-b98e-7be131cd8b6c/crio-ffcf1682cc7abc7ff916347a5d78b10903c2cb6c2f6c754623748f4044cb52ec",
            podUID: "e70cfef9-3116-44af-b98e-7be131cd8b6c", containerID: "ffcf1682cc7abc7ff916347a5d78b10903c2cb6c2f6c754623748f4044cb52ec", runtime: "crio", qos: "besteffort",
            namespace: "payments", pod: "smoke-test", container: "smoke-test", owner: ("", ""),
            requests: (0, 0), limits: (0, 0), gpus: 0
        ),
        Expected(
            "pods-docker-cgroupfs.json", "/kubepods/burstable/pod9ecc9a1c-0b00-441f-8c3e-bf7cede686b5/b83afb406239ce976ea51be571710285f7c83be3b8b3a4b1cdecc562da9dc373",
            podUID: "9ecc9a1c-0b00-441f-8c3e-bf7cede686b5", containerID: "b83afb406239ce976ea51be571710285f7c83be3b8b3a4b1cdecc562da9dc373", runtime: "docker", qos: "burstable",
            namespace: "legacy", pod: "billing-worker-5b7f9c6d4-9vj2n", container: "worker", owner: ("ReplicaSet", "billing-worker-5b7f9c6d4"),
            requests: (500, 1000000000), limits: (1500, 2000000000), gpus: 0
        ),
        Expected(
            "pods-docker-cgroupfs.json", "/kubepods/burstable/podba667bb9-fb26-4796-93ae-df9cf1453324/793ffeafc13f52ea1f86a5fd98539b95df4d36b539eb65ba7d10a8e7dcf37f46",
            podUID: "ba667bb9-fb26-4796-93ae-df9cf1453324", containerID: "793ffeafc13f52ea1f86a5fd98539b95df4d36b539eb65ba7d10a8e7dcf37f46", runtime: "docker", qos: "burstable",
            namespace: "kube-system", pod: "coredns-5d78c9869d-4xk2p", container: "coredns", owner: ("ReplicaSet", "coredns-5d78c9869d"),
            requests: (100, 73400320), limits: (0, 178257920), gpus: 0
        ),
        Expected(
            "pods-docker-cgroupfs.json", "/kubepods/besteffort/podcf811539-e182-443e-9f4d-866535e9902d/262e752494e3338ca268b079f75484254dfbcf11aa75bc17848c4acec9de02b3",
            podUID: "cf811539-e182-443e-9f4d-866535e9902d", containerID: "262e752494e3338ca268b079f75484254dfbcf11aa75bc17848c4acec9de02b3", runtime: "docker", qos: "besteffort",
            namespace: "legacy", pod: "cleanup-28461125-qz6fd", container: "cleanup", owner: ("Job", "cleanup-28461125"),
            requests: (0, 0), limits: (0, 0), gpus: 0
        ),
    ]

    /// The sandbox cgroup of every pod of the three fixtures; their ids are in no pod status.
    static let sandboxes: [Sandbox] = [
        Sandbox(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod42ceb952_d417_4541_a323_cf2f078b0ef9.slice/cri-containerd-a9fb356366d65e80338aef57c2e97d7a56efefefb7ac5dfd697998e2d6669ff6.scope",
            podUID: "42ceb952-d417-4541-a323-cf2f078b0ef9", containerID: "a9fb356366d65e80338aef57c2e97d7a56efefefb7ac5dfd697998e2d6669ff6", runtime: "containerd", qos: "burstable", namespace: "shop", pod: "web-7d4b9c8f6-x2kqp"
        ),
        Sandbox(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda4d653cf_936a_4b20_abb0_a8842e7846c4.slice/cri-containerd-1d447e74ba58772e02d185d1321575c9a5633bfce685b2f6d10e3acd3624aa25.scope",
            podUID: "a4d653cf-936a-4b20-abb0-a8842e7846c4", containerID: "1d447e74ba58772e02d185d1321575c9a5633bfce685b2f6d10e3acd3624aa25", runtime: "containerd", qos: "burstable", namespace: "shop", pod: "postgres-0"
        ),
        Sandbox(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod085ac514_53db_4aa5_ace5_9b7169df9da5.slice/cri-containerd-9a1db43b514a809c40d467065d20b6ce3ee58f13cbc59721fc73ed64454c1820.scope",
            podUID: "085ac514-53db-4aa5-ace5-9b7169df9da5", containerID: "9a1db43b514a809c40d467065d20b6ce3ee58f13cbc59721fc73ed64454c1820", runtime: "containerd", qos: "burstable", namespace: "monitoring", pod: "node-exporter-8xk2p"
        ),
        Sandbox(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod63273bed_ee5f_498d_9626_dac68dd1b7e7.slice/cri-containerd-6d8aae3059113fbc24006acc231871328d07f54e38f5d06df36dadbad78a0d54.scope",
            podUID: "63273bed-ee5f-498d-9626-dac68dd1b7e7", containerID: "6d8aae3059113fbc24006acc231871328d07f54e38f5d06df36dadbad78a0d54", runtime: "containerd", qos: "burstable", namespace: "batch", pod: "report-28461120-7xk4m"
        ),
        Sandbox(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-pod2fda348b_0135_4a0b_806d_1688cee91d99.slice/cri-containerd-2364c94499139efb719d8ad3b5196d9196aa46e66e87f77666265aa7dd3e7e32.scope",
            podUID: "2fda348b-0135-4a0b-806d-1688cee91d99", containerID: "2364c94499139efb719d8ad3b5196d9196aa46e66e87f77666265aa7dd3e7e32", runtime: "containerd", qos: "guaranteed", namespace: "ml", pod: "triton-5f7c6d9b8-qwe12"
        ),
        Sandbox(
            "pods-containerd-systemd.json", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podc5823c86_46b2_4be2_90b3_fd4d1722e668.slice/cri-containerd-a2c28dd652c68a2b63435b3f845f025c598028e79847ded0bfe5ea12ccdc8dac.scope",
            podUID: "c5823c86-46b2-4be2-90b3-fd4d1722e668", containerID: "a2c28dd652c68a2b63435b3f845f025c598028e79847ded0bfe5ea12ccdc8dac", runtime: "containerd", qos: "besteffort", namespace: "default", pod: "debug-shell"
        ),
        Sandbox(
            "pods-crio-cgroupfs.json", "/kubepods/burstable/poddf46eb6d-f111-4d1b-a6e3-368cfb4df983/crio-5de1080d660457b078ed2d1d9b6d9f3f8171b6a2feee10d65ca56f344f787c3f",
            podUID: "df46eb6d-f111-4d1b-a6e3-368cfb4df983", containerID: "5de1080d660457b078ed2d1d9b6d9f3f8171b6a2feee10d65ca56f344f787c3f", runtime: "crio", qos: "burstable", namespace: "payments", pod: "api-6c5d8f7b9-k8s2m"
        ),
        Sandbox(
            "pods-crio-cgroupfs.json", "/kubepods/pod7d22712c-92d6-47e2-9e4c-10024005cb7a/crio-7e917ec922e83013bc6196fcd93af9819164d09acf991bcabc71783e8e770934",
            podUID: "7d22712c-92d6-47e2-9e4c-10024005cb7a", containerID: "7e917ec922e83013bc6196fcd93af9819164d09acf991bcabc71783e8e770934", runtime: "crio", qos: "guaranteed", namespace: "payments", pod: "redis-0"
        ),
        Sandbox(
            "pods-crio-cgroupfs.json", "/kubepods/pod80b08917-6333-4cea-9dc6-63ec7e831ba1/crio-9237fd004f924e301a0ec753473930acc4b26a73157a16d9e1644a5dec384933",
            podUID: "80b08917-6333-4cea-9dc6-63ec7e831ba1", containerID: "9237fd004f924e301a0ec753473930acc4b26a73157a16d9e1644a5dec384933", runtime: "crio", qos: "guaranteed", namespace: "kube-flannel", pod: "kube-flannel-ds-x7h2p"
        ),
        Sandbox(
            "pods-crio-cgroupfs.json", "/kubepods/besteffort/pode70cfef9-3116-44af-b98e-7be131cd8b6c/crio-06cffb66b590b7ed7192ddf7b2e3ee9d832e9943fa3193bb7c4a7f5af9396978",
            podUID: "e70cfef9-3116-44af-b98e-7be131cd8b6c", containerID: "06cffb66b590b7ed7192ddf7b2e3ee9d832e9943fa3193bb7c4a7f5af9396978", runtime: "crio", qos: "besteffort", namespace: "payments", pod: "smoke-test"
        ),
        Sandbox(
            "pods-docker-cgroupfs.json", "/kubepods/burstable/pod9ecc9a1c-0b00-441f-8c3e-bf7cede686b5/8f2500702670c6935ef17e1e1e8ac805aeb24fa9577489333a5642adde616b1d",
            podUID: "9ecc9a1c-0b00-441f-8c3e-bf7cede686b5", containerID: "8f2500702670c6935ef17e1e1e8ac805aeb24fa9577489333a5642adde616b1d", runtime: "docker", qos: "burstable", namespace: "legacy", pod: "billing-worker-5b7f9c6d4-9vj2n"
        ),
        Sandbox(
            "pods-docker-cgroupfs.json", "/kubepods/burstable/podba667bb9-fb26-4796-93ae-df9cf1453324/a1dd8012f975212bd73cdec646188bb51e39b9e4e71fb6881522bc78fa7201b4",
            podUID: "ba667bb9-fb26-4796-93ae-df9cf1453324", containerID: "a1dd8012f975212bd73cdec646188bb51e39b9e4e71fb6881522bc78fa7201b4", runtime: "docker", qos: "burstable", namespace: "kube-system", pod: "coredns-5d78c9869d-4xk2p"
        ),
        Sandbox(
            "pods-docker-cgroupfs.json", "/kubepods/besteffort/podcf811539-e182-443e-9f4d-866535e9902d/be586806469fb753015f090cf36006d10423e2a5cff8e23193af53de085245ea",
            podUID: "cf811539-e182-443e-9f4d-866535e9902d", containerID: "be586806469fb753015f090cf36006d10423e2a5cff8e23193af53de085245ea", runtime: "docker", qos: "besteffort", namespace: "legacy", pod: "cleanup-28461125-qz6fd"
        ),
    ]

    /// A one-pod PodList with the given container resources (a JSON object), for the cases a
    /// real kubelet answer does not show (limits without requests, bad quantities).
    static func onePod(resources: String, uid: String = "0b7a3c1e-5d2f-4e8a-9c6b-1f2e3d4c5b6a", containerID: String = "containerd://" + String(repeating: "ab", count: 32)) -> Data {
        Data("""
        {"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{
          "metadata":{"name":"app-0","namespace":"team-a","uid":"\(uid)","labels":{"app":"app"}},
          "spec":{"nodeName":"node-1","containers":[{"name":"app","image":"app:1","resources":\(resources)}]},
          "status":{"phase":"Running","qosClass":"Burstable","containerStatuses":[{"name":"app","containerID":"\(containerID)","restartCount":0}]}
        }]}
        """.utf8)
    }
}

struct MetadataTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A clock the test moves by hand.
final class MetadataTestClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private let current = Mutex(Instant(offset: .zero))
    var now: Instant { current.withLock { $0 } }
    var minimumResolution: Duration { .nanoseconds(1) }

    func advance(by duration: Duration) { current.withLock { $0 = $0.advanced(by: duration) } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        current.withLock { $0 = max($0, deadline) }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// Keeps every log message, to check what is logged and how often.
final class MetadataLogRecorder: Sendable {
    struct Entry: Sendable, Hashable {
        var level: Logger.Level
        var message: String
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    func messages(at level: Logger.Level) -> [String] { all.filter { $0.level == level }.map(\.message) }

    var logger: Logger {
        Logger(label: "metadata-test") { _ in Handler(recorder: self) }
    }

    fileprivate func record(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    private struct Handler: LogHandler {
        let recorder: MetadataLogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.record(Entry(level: event.level, message: event.message.description))
        }
    }
}
