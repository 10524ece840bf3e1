import Foundation
import HTTPTypes
import Hummingbird
import KubeHeroAgent
import KubeHeroCore
import KubeHeroPKI
import Logging
import NIOCore
import Synchronization
import Testing

/// The node's Node object and its pods' volume claims, from the Kubernetes API server: recorded
/// objects decoded, and fetched over real TLS from a test server that checks the token.
@Suite("Metadata: Kubernetes API (Node, PersistentVolumeClaim)")
struct MetadataKubernetesAPITests {
    static let nodeName = "ip-10-0-1-23.ec2.internal"

    @Test("a recorded EKS Karpenter spot node: labels, capacity and the price annotation")
    func nodeFromObject() throws {
        let node = try JSONDecoder().decode(KubernetesNode.self, from: MetadataFixtures.apiData("node-eks-karpenter-spot.json"))
        let info = NodeInfo.fromNode(node, flagLabels: [:], cpuMillicores: 1, memoryBytes: 1)
        #expect(info == NodeInfo(
            name: Self.nodeName, instanceType: "m5.xlarge", region: "us-east-1", zone: "us-east-1b", capacityType: .spot,
            cpuCapacityMillicores: 4000, memoryCapacityBytes: 15_896_988 * 1024, gpuCount: 0, hourlyPriceOverride: "0.0712"
        ))
        // A flag wins over the object's label; capacity falls back to the given values when absent.
        let flagged = NodeInfo.fromNode(
            KubernetesNode(name: "n", labels: node.labels), flagLabels: ["karpenter.sh/capacity-type": "on-demand"],
            cpuMillicores: 2000, memoryBytes: 8 << 30
        )
        #expect(flagged.capacityType == .onDemand && flagged.instanceType == "m5.xlarge")
        #expect(flagged.cpuCapacityMillicores == 2000 && flagged.memoryCapacityBytes == 8 << 30 && flagged.hourlyPriceOverride.isEmpty)
    }

    @Test("claims: requested size and class; a claim without a size is an error naming the field")
    func claimFromObject() throws {
        let claim = try JSONDecoder().decode(KubernetesClaim.self, from: MetadataFixtures.apiData("pvc-data-postgres-0.json"))
        #expect(try claim.volumeClaim() == VolumeClaim(claimName: "data-postgres-0", storageClass: "gp3", requestBytes: 100 << 30))
        let pending = try JSONDecoder().decode(KubernetesClaim.self, from: MetadataFixtures.apiData("pvc-postgres-0-scratch.json"))
        #expect(try pending.volumeClaim().requestBytes == 20 << 30, "a pending claim is priced at its request")

        let noSize = try JSONDecoder().decode(KubernetesClaim.self, from: Data(#"{"metadata":{"name":"x","namespace":"ns"},"spec":{}}"#.utf8))
        #expect(throws: ValidationError(field: "persistentvolumeclaim[ns/x].spec.resources.requests.storage", "missing")) { try noSize.volumeClaim() }
        let bad = try JSONDecoder().decode(KubernetesClaim.self, from: Data(#"{"metadata":{"name":"x","namespace":"ns"},"spec":{"resources":{"requests":{"storage":"10XB"}}}}"#.utf8))
        #expect(throws: ValidationError.self) { try bad.volumeClaim() }
    }

    @Test("pods name their claims: persistentVolumeClaim volumes and generic ephemeral ones (<pod>-<volume>)")
    func podClaimNames() throws {
        let list = try MetadataFixtures.podList("pods-with-volumes.json")
        #expect(list.items.map(\.claimNames) == [["data-postgres-0", "postgres-0-scratch"], ["shared-cache"]])
    }

    @Test("in-cluster configuration comes from the service environment")
    func inCluster() {
        #expect(KubernetesAPI.inClusterConfiguration(environment: [:]) == nil)
        let c = KubernetesAPI.inClusterConfiguration(environment: ["KUBERNETES_SERVICE_HOST": "10.100.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        #expect(c?.baseURL == "https://10.100.0.1:443" && c?.peer == "API server")
        #expect(c?.tokenFile == KubeletClient.Configuration.serviceAccountTokenFile)
        #expect(KubernetesAPI.inClusterConfiguration(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1"])?.baseURL == "https://[fd00::1]:443")
    }

    // MARK: - Over TLS

    final class Counter: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    /// An API server on 127.0.0.1 over TLS: `GET /api/v1/nodes/<nodeName>` answers the recorded
    /// node, `GET /api/v1/nodes` the recorded GKE NodeList (and one broken item) in pages of
    /// `limit` with `continue` tokens, the `payments` claims `data-postgres-0` and `postgres-0-scratch` their recorded
    /// objects, `shared-cache` a 403 as RBAC without `persistentvolumeclaims` would, `stall-*`
    /// nothing for 2 s; everything needs `Bearer api-token`.
    /// `nodeName` renames the recorded node (for agents run as another node); `extraNodes` (Node
    /// objects as JSON) are listed after the recorded ones.
    static func withFakeAPIServer<R: Sendable>(
        nodeName: String = nodeName, extraNodes: [String] = [],
        _ body: @Sendable (KubeletClient.Configuration, @Sendable () -> Int) async throws -> R
    ) async throws -> R {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-api-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ca = try CertificateAuthority.create(commonName: "kubernetes")
        try Data(ca.certificatePEM.utf8).write(to: URL(fileURLWithPath: directory + "/ca.crt"))
        try Data("api-token\n".utf8).write(to: URL(fileURLWithPath: directory + "/token"))

        let recorded = String(decoding: try MetadataFixtures.apiData("node-eks-karpenter-spot.json"), as: UTF8.self)
        let node = Data(recorded.replacingOccurrences(of: #""name": "\#(Self.nodeName)""#, with: #""name": "\#(nodeName)""#).utf8)
        let claims = [
            "data-postgres-0": try MetadataFixtures.apiData("pvc-data-postgres-0.json"),
            "postgres-0-scratch": try MetadataFixtures.apiData("pvc-postgres-0-scratch.json"),
        ]
        let claimRequests = Counter()
        // The recorded NodeList's items, each as its own JSON, plus one that is not a Node (no
        // name) as a broken object would be, served in pages of `limit`.
        let listed = try JSONSerialization.jsonObject(with: try MetadataFixtures.apiData("nodelist-gke-3-zones.json")) as? [String: Any]
        let nodeItems = try ((listed?["items"] as? [Any]) ?? []).map { try JSONSerialization.data(withJSONObject: $0) }
            + extraNodes.map { Data($0.utf8) } + [Data(#"{"metadata": {"labels": {"a": "b"}}}"#.utf8)]
        let router = Router()
        @Sendable func json(_ data: Data) -> Response {
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        @Sendable func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer api-token" }
        router.get("/api/v1/nodes/:name") { request, context -> Response in
            guard authorized(request) else { return Response(status: .unauthorized) }
            guard context.parameters.get("name") == nodeName else { return Response(status: .notFound) }
            return json(node)
        }
        router.get("/api/v1/nodes") { request, context -> Response in
            guard authorized(request) else { return Response(status: .unauthorized) }
            let limit = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? nodeItems.count
            // Continue tokens are opaque base64 in a real API server: '+', '/' and '=' must
            // arrive intact, so the token carries them.
            let token: String = request.uri.queryParameters.get("continue").map { String($0) } ?? ""
            let start = token.isEmpty ? 0 : Int(token.replacingOccurrences(of: "+/=", with: "")) ?? -1
            guard start >= 0, start <= nodeItems.count, limit > 0 else { return Response(status: .badRequest) }
            let end = min(start + limit, nodeItems.count)
            let next = end < nodeItems.count ? "+/=\(end)" : ""
            var body = Data(#"{"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "88213000", "continue": "\#(next)"}, "items": ["#.utf8)
            for (i, item) in nodeItems[start..<end].enumerated() {
                if i > 0 { body.append(contentsOf: Array(",".utf8)) }
                body.append(item)
            }
            body.append(contentsOf: Array("]}".utf8))
            return json(body)
        }
        router.get("/api/v1/namespaces/:ns/persistentvolumeclaims/:name") { request, context -> Response in
            guard authorized(request) else { return Response(status: .unauthorized) }
            claimRequests.add()
            let name = context.parameters.get("name") ?? ""
            if name.hasPrefix("stall-") {
                try await Task.sleep(for: .seconds(2))
                return Response(status: .notFound)
            }
            if name == "shared-cache" {
                let text = #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"persistentvolumeclaims \"shared-cache\" is forbidden: User \"system:serviceaccount:kubehero-system:kubehero-agent\" cannot get resource \"persistentvolumeclaims\" in API group \"\" in the namespace \"payments\"","reason":"Forbidden","code":403}"#
                return Response(status: .forbidden, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            guard context.parameters.get("ns") == "payments", let claim = claims[name] else { return Response(status: .notFound) }
            return json(claim)
        }
        return try await TestHTTPS.serve(router, ca: ca, logger: MetadataKubeletClientTests.quietLogger) { port in
            var c = KubeletClient.Configuration(baseURL: "https://127.0.0.1:\(port)", tokenFile: directory + "/token", caFile: directory + "/ca.crt")
            c.peer = "API server"
            return try await body(c) { claimRequests.count }
        }
    }

    @Test("the node source describes the node from its Node object, and keeps it when the API server goes away")
    func nodeSource() async throws {
        let log = MetadataLogRecorder()
        let fallback = NodeInfo(name: Self.nodeName, cpuCapacityMillicores: 2000, memoryCapacityBytes: 4 << 30)
        let source = try await Self.withFakeAPIServer { configuration, _ in
            let api = try KubernetesAPI(configuration: configuration, logger: log.logger)
            let source = NodeObjectSource(api: api, fallback: fallback, flagLabels: [:], logger: log.logger)
            #expect(source.current == fallback, "before the first answer: flags and the host")
            await source.refresh()
            await source.refresh()
            try await api.shutdown()
            return source
        }
        #expect(source.current.instanceType == "m5.xlarge" && source.current.capacityType == .spot)
        #expect(source.current.hourlyPriceOverride == "0.0712" && source.current.cpuCapacityMillicores == 4000)
        #expect(log.messages(at: .info).filter { $0.hasPrefix("node described by its Node object") }.count == 1, "logged once")
    }

    @Test("a node the API server does not know: an error naming the URL; the fallback stays")
    func unknownNode() async throws {
        let log = MetadataLogRecorder()
        try await Self.withFakeAPIServer { configuration, _ in
            let api = try KubernetesAPI(configuration: configuration, logger: log.logger)
            do {
                _ = try await api.node(named: "other-node")
                Issue.record("expected a 404")
            } catch let error as KubeletError {
                #expect(error.code == .unexpectedStatus)
                #expect(error.description.hasPrefix("API server at \(configuration.baseURL)/api/v1/nodes/other-node: answered 404"))
            }
            await #expect(throws: KubeletError.self) { try await api.node(named: "../secrets") }
            let fallback = NodeInfo(name: "other-node")
            let source = NodeObjectSource(api: api, fallback: fallback, flagLabels: [:], logger: log.logger)
            await source.refresh()
            #expect(source.current == fallback)
            #expect(log.messages(at: .warning).contains { $0.contains("keeping the node description from flags and the host") })
            try await api.shutdown()
        }
    }

    @Test("pods' claims travel with their first container; a forbidden claim is left out and logged once")
    func claimsInIdentity() async throws {
        let log = MetadataLogRecorder()
        let list = try MetadataFixtures.podList("pods-with-volumes.json")
        try await Self.withFakeAPIServer { configuration, claimRequests in
            let api = try KubernetesAPI(configuration: configuration, logger: log.logger)
            let claims = ClaimSizes(api: api, logger: log.logger)
            let source = PodMetadataSource(fetcher: CannedPods(list: list), nodeName: Self.nodeName, claims: claims, logger: log.logger)
            await source.refresh()
            let asked = claimRequests()
            await source.refresh()
            #expect(asked == 3 && claimRequests() == 3, "known claims are not asked again within maxAge (asked \(claimRequests()))")
            try await api.shutdown()

            func identity(_ id: String, pod: String) -> ContainerIdentity? {
                source.identity(for: CgroupContainer(cgroupID: 1, path: "x", podUID: pod, containerID: String(repeating: id, count: 64), runtime: "containerd", qosClass: "burstable"))
            }
            let postgres = try #require(identity("1", pod: "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918"))
            #expect(postgres.container == "postgres")
            #expect(postgres.volumes == [
                VolumeClaim(claimName: "data-postgres-0", storageClass: "gp3", requestBytes: 100 << 30),
                VolumeClaim(claimName: "postgres-0-scratch", storageClass: "gp3", requestBytes: 20 << 30),
            ])
            #expect(identity("2", pod: "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918")?.volumes == [], "counted once: only the first container carries them")
            let redis = try #require(identity("3", pod: "8a7b6c5d-4e3f-4a2b-9c1d-0e1f2a3b4c5d"))
            #expect(redis.container == "redis" && redis.volumes.isEmpty, "a claim that cannot be read is not priced at a guess")
            let warnings = log.messages(at: .warning).filter { $0.contains("shared-cache") }
            #expect(warnings.count == 1, "\(warnings)")
            #expect(warnings.first?.contains("answered 403 Forbidden") == true && warnings.first?.contains("grant it RBAC get") == true)
        }
    }
}

extension MetadataKubernetesAPITests {
    @Test("an API server that does not answer costs one timeout per round, not one per claim")
    func stalledAPIServer() async throws {
        let log = MetadataLogRecorder()
        let volumes = (1...3).map { #"{"name": "v\#($0)", "persistentVolumeClaim": {"claimName": "stall-\#($0)"}}"# }.joined(separator: ",")
        let list = try KubeletPodList.decode(Data(#"""
            {"items": [{"metadata": {"name": "db-0", "namespace": "payments", "uid": "u-1"},
                        "spec": {"volumes": [\#(volumes)], "containers": [{"name": "db"}]}}]}
            """#.utf8), from: "test")
        try await Self.withFakeAPIServer { configuration, claimRequests in
            var c = configuration
            c.timeout = .milliseconds(300)
            let api = try KubernetesAPI(configuration: c, logger: log.logger)
            let claims = ClaimSizes(api: api, logger: log.logger)
            await claims.update(for: list)
            try await api.shutdown()
            // One attempt: it reached the server, or (on a loaded machine) timed out on the way.
            #expect(claimRequests() <= 1, "asked \(claimRequests()) times")
            #expect(claims.claim(namespace: "payments", name: "stall-1") == nil)
            let warnings = log.messages(at: .warning)
            // The first claim's failure stopped the round: all three left for the next one.
            #expect(warnings.count == 1 && warnings[0].contains("3 claims not read this round"), "\(warnings)")
        }
    }
}

/// A pod list that is always the same.
struct CannedPods: PodListFetcher {
    let list: KubeletPodList
    var endpoint: String { "canned" }
    func fetchPods() async throws -> KubeletPodList { list }
}
