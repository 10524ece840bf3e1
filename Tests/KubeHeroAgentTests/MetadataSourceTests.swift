import Foundation
import KubeHeroAgent
import KubeHeroCore
import Logging
import Synchronization
import Testing

/// The source keeps the last good pod metadata through short kubelet outages, falls back to
/// cgroup identity after that, and says so once per change.
@Suite("Metadata: source")
struct MetadataSourceTests {
    /// Answers from a script: the bytes of an answer (decoded as the client decodes them), or an error.
    final class ScriptedFetcher: PodListFetcher {
        enum Answer: Sendable {
            case body(Data)
            case failure(KubeletError)
        }

        let endpoint = "https://10.0.1.23:10250/pods"
        private let next = Mutex<Answer>(.failure(KubeletError(.unreachable, url: "https://10.0.1.23:10250/pods", "not scripted")))

        func answer(_ answer: Answer) { next.withLock { $0 = answer } }

        func fetchPods() async throws -> KubeletPodList {
            switch next.withLock({ $0 }) {
            case let .body(data): return try KubeletPodList.decode(data, from: endpoint)
            case let .failure(error): throw error
            }
        }
    }

    static let refused = KubeletError(.unreachable, url: "https://10.0.1.23:10250/pods", "connection refused (is the kubelet listening there? its port is 10250)")

    struct Setup {
        let fetcher = ScriptedFetcher()
        let clock = MetadataTestClock()
        let log = MetadataLogRecorder()
        let source: PodMetadataSource<MetadataTestClock>

        init() {
            source = PodMetadataSource(fetcher: fetcher, nodeName: "ip-10-0-1-23", clock: clock, maxSnapshotAge: .seconds(300), logger: log.logger)
        }
    }

    static let web = MetadataFixtures.running[0]

    @Test("before the first answer, containers are named by cgroup identity")
    func beforeFirstRefresh() {
        let s = Setup()
        #expect(s.source.status == .degraded(reason: "the kubelet at https://10.0.1.23:10250/pods has not been asked yet"))
        #expect(s.source.identity(for: Self.web.cgroup).namespace == "unknown")
        #expect(s.source.snapshot == nil)
    }

    @Test("a good answer names containers from pod metadata, logged once")
    func goodAnswer() async throws {
        let s = Setup()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.containerdSystemd)))
        await s.source.refresh()
        await s.source.refresh()
        #expect(s.source.status == .ok)
        #expect(s.source.identity(for: Self.web.cgroup).pod == "web-7d4b9c8f6-x2kqp")
        #expect(s.log.messages(at: .info) == ["naming containers from the kubelet's pod metadata (6 pods)"])
        #expect(s.log.messages(at: .warning).isEmpty)
    }

    @Test("a short outage keeps the last good metadata, then degrades to cgroup identity after 5 minutes")
    func outageKeepsThenDegrades() async throws {
        let s = Setup()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.containerdSystemd)))
        await s.source.refresh()

        s.fetcher.answer(.failure(Self.refused))
        s.clock.advance(by: .seconds(60))
        await s.source.refresh()
        s.clock.advance(by: .seconds(60))
        await s.source.refresh()
        #expect(s.source.status == .ok)
        #expect(s.source.identity(for: Self.web.cgroup).pod == "web-7d4b9c8f6-x2kqp")

        s.clock.advance(by: .seconds(200))
        await s.source.refresh()
        await s.source.refresh()
        let reason = "kubelet unreachable at https://10.0.1.23:10250/pods: connection refused (is the kubelet listening there? its port is 10250)"
        #expect(s.source.status == .degraded(reason: reason))
        #expect(s.source.identity(for: Self.web.cgroup) == PodMetadataSnapshot.cgroupOnly(for: Self.web.cgroup, nodeName: "ip-10-0-1-23"))
        #expect(s.log.messages(at: .warning) == [
            "\(reason); keeping the last pod metadata for up to 300.0 seconds",
            "\(reason); naming containers by cgroup identity",
        ])
    }

    @Test("the age limit holds between refreshes too")
    func degradesWithoutRefresh() async throws {
        let s = Setup()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.containerdSystemd)))
        await s.source.refresh()
        s.fetcher.answer(.failure(Self.refused))
        await s.source.refresh()
        s.clock.advance(by: .seconds(301))
        #expect(s.source.identity(for: Self.web.cgroup).namespace == "unknown")
        #expect(s.source.status != .ok)
    }

    @Test("a malformed answer degrades to cgroup identity, naming where the JSON broke")
    func malformedAnswerDegrades() async throws {
        let s = Setup()
        s.fetcher.answer(.body(Data(#"{"items":[{"metadata":{"name":"a","uid":"u"},"spec":{"containers":"web"}}]}"#.utf8)))
        await s.source.refresh()
        guard case let .degraded(reason) = s.source.status else {
            Issue.record("expected degraded, got \(s.source.status)")
            return
        }
        #expect(reason == "kubelet at https://10.0.1.23:10250/pods: the answer is not a PodList: items[0].spec.containers: expected an array")
        #expect(s.source.identity(for: Self.web.cgroup).namespace == "unknown")
        #expect(s.log.messages(at: .warning) == ["\(reason); naming containers by cgroup identity"])
    }

    @Test("a truncated answer after a good one keeps the good one")
    func truncatedAfterGood() async throws {
        let s = Setup()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.crioCgroupfs)))
        await s.source.refresh()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.truncated)))
        await s.source.refresh()
        #expect(s.source.status == .ok)
        let api = try #require(MetadataFixtures.running.first { $0.fixture == MetadataFixtures.crioCgroupfs })
        #expect(s.source.identity(for: api.cgroup).pod == api.identity.pod)
        #expect(s.log.messages(at: .warning).count == 1)
    }

    @Test("the kubelet answering again is logged once and restores pod names")
    func recovery() async throws {
        let s = Setup()
        s.fetcher.answer(.failure(Self.refused))
        await s.source.refresh()
        await s.source.refresh()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.containerdSystemd)))
        await s.source.refresh()
        #expect(s.source.status == .ok)
        #expect(s.log.messages(at: .warning).count == 1)
        #expect(s.log.messages(at: .info).count == 1)
    }

    @Test("--match cgroups are named by cgroup identity even with pod metadata")
    func matchedCgroupsStayCgroup() async throws {
        let s = Setup()
        s.fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.containerdSystemd)))
        await s.source.refresh()
        let identity = s.source.identity(for: CgroupContainer(cgroupID: 1, path: "/system.slice/nginx.service"), outsideKubernetes: true)
        #expect(identity.namespace == "cgroup")
    }

    @Test("bad fields are logged once per snapshot that has them")
    func problemsLoggedOnce() async throws {
        let s = Setup()
        s.fetcher.answer(.body(MetadataFixtures.onePod(resources: #"{"requests":{"memory":"12XB"}}"#)))
        await s.source.refresh()
        await s.source.refresh()
        let warnings = s.log.messages(at: .warning)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("pod[team-a/app-0].container[app].resources.requests.memory") == true)
    }

    @Test("run() refreshes until graceful shutdown")
    func runsAsService() async throws {
        let fetcher = ScriptedFetcher()
        fetcher.answer(.body(try MetadataFixtures.data(MetadataFixtures.containerdSystemd)))
        let source = PodMetadataSource(fetcher: fetcher, nodeName: "n", refreshInterval: .milliseconds(20), logger: MetadataLogRecorder().logger)
        let task = Task { try await source.run() }
        for _ in 0..<500 where source.status != .ok { try await Task.sleep(for: .milliseconds(10)) }
        #expect(source.status == .ok)
        task.cancel()
        try await task.value
    }
}
