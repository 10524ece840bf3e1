import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import KubeHeroAgent
import KubeHeroCore
import KubeHeroPKI
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Testing

/// The kubelet client against a real HTTPS server on loopback that checks the bearer token the
/// way a kubelet does.
@Suite("Metadata: kubelet client")
struct MetadataKubeletClientTests {
    /// A TLS server on 127.0.0.1 answering `GET /pods` by token: `good-token` gets the containerd
    /// fixture, `forbidden-token` a kubelet's 403, `truncated-token` a cut-off answer,
    /// `slow-token` the fixture after 3 s, `trickle-token` a byte every 50 ms for 3 s; anything
    /// else 401.
    struct FakeKubelet {
        let port: Int
        let directory: String
        let ca: CertificateAuthority

        var baseURL: String { "https://127.0.0.1:\(port)" }
        var caFile: String { directory + "/ca.crt" }
        var tokenFile: String { directory + "/token" }

        func writeToken(_ token: String) throws {
            try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        }

        func configuration(token: String = "good-token") throws -> KubeletClient.Configuration {
            try writeToken(token)
            return KubeletClient.Configuration(baseURL: baseURL, tokenFile: tokenFile, caFile: caFile)
        }
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "metadata-test-kubelet")
        logger.logLevel = .critical
        return logger
    }

    static func withFakeKubelet<R: Sendable>(_ body: @Sendable (FakeKubelet) async throws -> R) async throws -> R {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-kubelet-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let ca = try CertificateAuthority.create(commonName: "node-1-ca@1732000000")
        try Data(ca.certificatePEM.utf8).write(to: URL(fileURLWithPath: directory + "/ca.crt"))

        let pods = try MetadataFixtures.data(MetadataFixtures.containerdSystemd)
        let truncated = try MetadataFixtures.data(MetadataFixtures.truncated)
        let router = Router()
        router.get("/pods") { request, _ -> Response in
            func json(_ data: Data) -> Response {
                Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
            switch request.headers[.authorization] {
            case "Bearer good-token":
                return json(pods)
            case "Bearer truncated-token":
                return json(truncated)
            case "Bearer slow-token":
                try await Task.sleep(for: .seconds(3))
                return json(pods)
            case "Bearer trickle-token":
                // Headers at once, then a byte every 50 ms: no read ever times out.
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody { writer in
                    for _ in 0..<60 {
                        try await writer.write(ByteBuffer(string: " "))
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    try await writer.write(ByteBuffer(bytes: pods))
                    try await writer.finish(nil)
                })
            case "Bearer forbidden-token":
                let text = "Forbidden (user=system:serviceaccount:kubehero:kubehero-agent, verb=get, resource=nodes, subresource=proxy)"
                return Response(status: .forbidden, body: .init(byteBuffer: ByteBuffer(string: text)))
            default:
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "Unauthorized")))
            }
        }
        return try await TestHTTPS.serve(router, ca: ca, logger: quietLogger) { port in
            try await body(FakeKubelet(port: port, directory: directory, ca: ca))
        }
    }

    static func fetchError(_ configuration: KubeletClient.Configuration, logger: Logger = quietLogger) async throws -> KubeletError {
        try await KubeletClient.withClient(configuration: configuration, logger: logger) { client in
            do {
                let list = try await client.fetchPods()
                throw MetadataTestError("expected an error, got \(list.items.count) pods")
            } catch let error as KubeletError {
                return error
            }
        }
    }

    @Test("200: the pod list is fetched over verified TLS with the token")
    func fetchesPods() async throws {
        try await Self.withFakeKubelet { kubelet in
            let list = try await KubeletClient.withClient(configuration: try kubelet.configuration(), logger: Self.quietLogger) {
                try await $0.fetchPods()
            }
            #expect(list.items.count == 6)
            let web = MetadataFixtures.running[0]
            #expect(PodMetadataSnapshot(list).identity(for: web.cgroup)?.container == "web")
        }
    }

    @Test("401: a wrong token is named, with where it came from")
    func wrongToken() async throws {
        try await Self.withFakeKubelet { kubelet in
            let error = try await Self.fetchError(try kubelet.configuration(token: "stale-token"))
            #expect(error.code == .unauthorized)
            #expect(error.url == kubelet.baseURL + "/pods")
            #expect(error.description.hasPrefix("kubelet at \(kubelet.baseURL)/pods: answered 401 Unauthorized (\"Unauthorized\"): the kubelet did not accept the token from \(kubelet.tokenFile)"))
        }
    }

    @Test("the token file is read again on every fetch, as projected tokens rotate")
    func tokenReread() async throws {
        try await Self.withFakeKubelet { kubelet in
            try await KubeletClient.withClient(configuration: try kubelet.configuration(token: "good-token"), logger: Self.quietLogger) { client in
                #expect(try await client.fetchPods().items.count == 6)
                try kubelet.writeToken("rotated-away")
                await #expect(throws: KubeletError.self) { try await client.fetchPods() }
                try kubelet.writeToken("good-token")
                #expect(try await client.fetchPods().items.count == 6)
            }
        }
    }

    @Test("403: the hint names the RBAC permission nodes/proxy")
    func forbidden() async throws {
        try await Self.withFakeKubelet { kubelet in
            let error = try await Self.fetchError(try kubelet.configuration(token: "forbidden-token"))
            #expect(error.code == .forbidden)
            #expect(error.reason.contains("subresource=proxy"))
            #expect(error.reason.contains("grant it RBAC get on nodes/proxy"))
        }
    }

    @Test("a closed port is connection refused, naming the URL")
    func connectionRefused() async throws {
        // A port that is bound but not listening refuses every connection, and stays ours for
        // the whole test. (A port closed again is free for any other test to take, or for this
        // very connection to pick as its own source port and connect to itself.)
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        defer { Glibc.close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0
            }
        }
        try #require(bound)
        let url = "https://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        // A refusal is immediate, but a machine busy with every other suite can stall the event
        // loop past the 2 s default, and the connect timer then fires first: give it room.
        let started = ContinuousClock.now
        let error = try await Self.fetchError(.init(baseURL: url, tokenFile: nil, caFile: nil, connectTimeout: .seconds(30)))
        // Not retried until the 10 s deadline: a refusal is an answer.
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(error.code == .unreachable)
        #expect(error.description == "kubelet unreachable at \(url)/pods: connection refused (is the kubelet listening there? its port is 10250)")
    }

    @Test("a certificate from another CA fails TLS, pointing at the CA file")
    func untrustedCertificate() async throws {
        try await Self.withFakeKubelet { kubelet in
            let other = try CertificateAuthority.create(commonName: "someone else")
            let otherFile = kubelet.directory + "/other-ca.crt"
            try Data(other.certificatePEM.utf8).write(to: URL(fileURLWithPath: otherFile))
            var configuration = try kubelet.configuration()
            configuration.caFile = otherFile
            let error = try await Self.fetchError(configuration)
            #expect(error.code == .tls)
            #expect(error.description.hasPrefix("kubelet unreachable at \(kubelet.baseURL)/pods: TLS handshake failed"))
            #expect(error.reason.contains(otherFile))
        }
    }

    @Test("insecureSkipVerify accepts any certificate, with a warning")
    func insecureSkipVerify() async throws {
        try await Self.withFakeKubelet { kubelet in
            var configuration = try kubelet.configuration()
            configuration.caFile = nil
            configuration.insecureSkipVerify = true
            let log = MetadataLogRecorder()
            let list = try await KubeletClient.withClient(configuration: configuration, logger: log.logger) { try await $0.fetchPods() }
            #expect(list.items.count == 6)
            #expect(log.messages(at: .warning).contains { $0.contains("not verifying the kubelet's serving certificate") })
        }
    }

    @Test("without a CA file or skip-verify, a self-signed kubelet is refused")
    func systemTrustRefusesSelfSigned() async throws {
        try await Self.withFakeKubelet { kubelet in
            var configuration = try kubelet.configuration()
            configuration.caFile = nil
            let error = try await Self.fetchError(configuration)
            #expect(error.code == .tls)
            #expect(error.reason.contains("no CA file is configured"))
        }
    }

    @Test("an answer over the size cap is refused")
    func bodyCap() async throws {
        try await Self.withFakeKubelet { kubelet in
            var configuration = try kubelet.configuration()
            configuration.maxBodyBytes = 4096
            let error = try await Self.fetchError(configuration)
            #expect(error.code == .tooLarge)
            #expect(error.reason == "the answer is larger than 4096 bytes")
        }
    }

    @Test("a kubelet that does not answer in time is a timeout")
    func timeout() async throws {
        try await Self.withFakeKubelet { kubelet in
            var configuration = try kubelet.configuration(token: "slow-token")
            configuration.timeout = .milliseconds(300)
            let client = try KubeletClient(configuration: configuration, logger: Self.quietLogger)
            let started = ContinuousClock.now
            let error = await #expect(throws: KubeletError.self) { try await client.fetchPods() }
            let failedAfter = ContinuousClock.now - started
            try await client.shutdown()
            let shutDownAfter = ContinuousClock.now - started
            #expect(error?.code == .timeout)
            #expect(error?.reason == "no complete answer within 300 ms")
            // Before the slow answer (3 s) would have come: the deadline, not the answer, ended it.
            // (About 0.3 s on an idle machine; 2 s seen with the suites' burners on 2 cores.)
            #expect(failedAfter < .seconds(3))
            // The test server reads nothing while its handler sleeps, so the TLS close waits out
            // the client's 1 s close timeout (about 1 s on an idle machine). The bound only
            // checks that shutting down does not hang: on a loaded 2-core CI machine it took 7 s.
            #expect(shutDownAfter < .seconds(15))
        }
    }

    @Test("an answer that trickles in is cut off at the total timeout")
    func trickle() async throws {
        try await Self.withFakeKubelet { kubelet in
            var configuration = try kubelet.configuration(token: "trickle-token")
            configuration.timeout = .milliseconds(500)
            let client = try KubeletClient(configuration: configuration, logger: Self.quietLogger)
            let started = ContinuousClock.now
            let error = await #expect(throws: KubeletError.self) { try await client.fetchPods() }
            let failedAfter = ContinuousClock.now - started
            try await client.shutdown()
            #expect(error?.code == .timeout)
            #expect(error?.reason == "no complete answer within 500 ms")
            // The trickle lasts 3 s: ending before it shows the cut-off. (About 0.5 s on an idle
            // machine; 2.3 s seen while the whole suite starts at once on 2 cores.)
            #expect(failedAfter < .seconds(3))
        }
    }

    @Test("a truncated answer names what broke")
    func truncatedAnswer() async throws {
        try await Self.withFakeKubelet { kubelet in
            let error = try await Self.fetchError(try kubelet.configuration(token: "truncated-token"))
            #expect(error.code == .malformedJSON)
            #expect(error.reason == "the answer is not a PodList: not valid JSON: the answer ends after 5200 bytes, inside items[0].status (truncated?)")
        }
    }

    @Test("a missing token file is a configuration error naming the file")
    func missingTokenFile() async throws {
        try await Self.withFakeKubelet { kubelet in
            var configuration = try kubelet.configuration()
            configuration.tokenFile = kubelet.directory + "/no-such-token"
            let error = try await Self.fetchError(configuration)
            #expect(error.code == .configuration)
            #expect(error.reason.contains(kubelet.directory + "/no-such-token"))
        }
    }

    @Test("bad URLs and missing CA files are refused up front")
    func badConfiguration() {
        let url = #expect(throws: KubeletError.self) {
            try KubeletClient(configuration: .init(baseURL: "127.0.0.1:10250"), logger: Self.quietLogger)
        }
        #expect(url?.code == .configuration)
        let ca = #expect(throws: KubeletError.self) {
            try KubeletClient(configuration: .init(caFile: "/nonexistent/ca.crt"), logger: Self.quietLogger)
        }
        #expect(ca?.reason.contains("/nonexistent/ca.crt") == true)
    }
}
