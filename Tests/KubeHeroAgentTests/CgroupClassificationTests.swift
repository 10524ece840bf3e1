@testable import KubeHeroAgent
import Testing

/// Recognising kubelet's container cgroups from their paths alone.
@Suite("Cgroup path classification")
struct CgroupClassificationTests {
    static let id = "4a5e3b0c9d8f7e6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"
    static let uid = "8f2c1e4a-6b3d-4c5e-9a7b-1d2e3f4a5b6c"
    static let systemdUID = "8f2c1e4a_6b3d_4c5e_9a7b_1d2e3f4a5b6c"

    struct Case: Sendable, CustomTestStringConvertible {
        var path: String
        var runtime: String?
        var qos: String
        var testDescription: String { path }
    }

    static let recognised: [Case] = [
        // systemd driver, cgroup v2 or any v1 hierarchy
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(systemdUID).slice/cri-containerd-\(id).scope", runtime: "containerd", qos: "burstable"),
        Case(path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(systemdUID).slice/cri-containerd-\(id).scope", runtime: "containerd", qos: "besteffort"),
        Case(path: "/kubepods.slice/kubepods-pod\(systemdUID).slice/cri-containerd-\(id).scope", runtime: "containerd", qos: "guaranteed"),
        Case(path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(systemdUID).slice/crio-\(id).scope", runtime: "crio", qos: "burstable"),
        Case(path: "/kubepods.slice/kubepods-pod\(systemdUID).slice/crio-\(id).scope", runtime: "crio", qos: "guaranteed"),
        Case(path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(systemdUID).slice/docker-\(id).scope", runtime: "docker", qos: "besteffort"),
        // kind and other nested kubelets: the kubepods slices carry a prefix
        Case(path: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod\(systemdUID).slice/cri-containerd-\(id).scope", runtime: "containerd", qos: "burstable"),
        Case(path: "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod\(systemdUID).slice/cri-containerd-\(id).scope", runtime: "containerd", qos: "guaranteed"),
        // under a test or namespace prefix
        Case(path: "/kubehero-test-1/kubepods.slice/kubepods-pod\(systemdUID).slice/cri-containerd-\(id).scope", runtime: "containerd", qos: "guaranteed"),
        // cgroupfs driver
        Case(path: "/kubepods/burstable/pod\(uid)/\(id)", runtime: nil, qos: "burstable"),
        Case(path: "/kubepods/besteffort/pod\(uid)/\(id)", runtime: nil, qos: "besteffort"),
        Case(path: "/kubepods/pod\(uid)/\(id)", runtime: nil, qos: "guaranteed"),
        Case(path: "/kubepods/burstable/pod\(uid)/crio-\(id)", runtime: "crio", qos: "burstable"),
        Case(path: "/kubepods/pod\(uid)/docker-\(id)", runtime: "docker", qos: "guaranteed"),
        Case(path: "/docker/0123456789ab/kubepods/besteffort/pod\(uid)/\(id)", runtime: nil, qos: "besteffort"),
    ]

    @Test("kubelet container cgroups give pod UID, container id, runtime and QoS", arguments: recognised)
    func recognisedPaths(_ c: Case) throws {
        let found = try #require(KubernetesCgroup.classify(relativePath: c.path))
        #expect(found == KubernetesCgroup(podUID: Self.uid, containerID: Self.id, runtime: c.runtime, qosClass: c.qos))
    }

    @Test("a relative path without a leading slash is read the same")
    func withoutLeadingSlash() {
        #expect(KubernetesCgroup.classify(relativePath: "kubepods/pod\(Self.uid)/\(Self.id)")?.qosClass == "guaranteed")
    }

    @Test("static pods' UIDs (32 hex digits, no dashes) are pod UIDs")
    func staticPodUID() {
        let uid = "0d3fb8e1d7f0a6e54c2b9a8f7e6d5c4b"
        #expect(KubernetesCgroup.classify(relativePath: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice/cri-containerd-\(Self.id).scope")?.podUID == uid)
        #expect(KubernetesCgroup.classify(relativePath: "/kubepods/burstable/pod\(uid)/\(Self.id)")?.podUID == uid)
    }

    static let notContainers: [String] = [
        "/",
        "/kubepods.slice",
        "/kubepods.slice/kubepods-burstable.slice",
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(systemdUID).slice",
        "/kubepods.slice/kubepods-pod\(systemdUID).slice",
        "/kubepods",
        "/kubepods/burstable",
        "/kubepods/burstable/pod\(uid)",
        "/kubepods/pod\(uid)",
        // CRI-O's monitor process, not a container
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(systemdUID).slice/crio-conmon-\(id).scope",
        "/kubepods/burstable/pod\(uid)/crio-conmon-\(id)",
        // ordinary systemd units and slices
        "/system.slice/containerd.service",
        "/system.slice/docker-\(id).scope",
        "/user.slice/user-1000.slice/session-3.scope",
        "/system.slice/kubelet.service",
        // slices that do not nest the way systemd names them
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod\(systemdUID).slice/cri-containerd-\(id).scope",
        "/other.slice/kubepods-pod\(systemdUID).slice/cri-containerd-\(id).scope",
        "/kubepods.slice/kubepods-extra.slice/kubepods-extra-pod\(systemdUID).slice/cri-containerd-\(id).scope",
        // the systemd driver's UIDs have underscores, never dashes (dashes separate slice levels)
        "/kubepods.slice/kubepods-pod\(uid).slice/cri-containerd-\(id).scope",
        // unknown runtime prefix, id that is not hex, id too short
        "/kubepods.slice/kubepods-pod\(systemdUID).slice/podman-\(id).scope",
        "/kubepods.slice/kubepods-pod\(systemdUID).slice/cri-containerd-notahexid.scope",
        "/kubepods/pod\(uid)/abc123",
        "/kubepods/pod\(uid)/\(id.uppercased())",
        // cgroupfs layout gone wrong
        "/kubepods/guaranteed/pod\(uid)/\(id)",
        "/burstable/pod\(uid)/\(id)",
        "/kubepods/burstable/\(uid)/\(id)",
        "/kubepods/burstable/pod/\(id)",
        "/kubepods/burstable/pod\(uid)/\(id)/extra",
    ]

    @Test("pod, QoS and system cgroups, monitors and malformed names are not containers", arguments: notContainers)
    func notAContainer(_ path: String) {
        #expect(KubernetesCgroup.classify(relativePath: path) == nil)
    }
}
