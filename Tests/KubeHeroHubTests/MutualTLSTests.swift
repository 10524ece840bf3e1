import KubeHeroTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KubeHeroCLI
import KubeHeroCore
import KubeHeroHub
import KubeHeroIngestClient
import KubeHeroPKI
import KubeHeroWire
import SwiftProtobuf
import Testing

/// Who may stream batches: only clusters registered at this hub, with an unrevoked, unexpired
/// certificate from this hub's CA — and the cluster is always the certificate's, never the
/// payload's.
@Suite("Ingest mTLS")
struct MutualTLSTests {
    /// Opens a stream with the given TLS settings, sends one batch, and returns the RPC's error
    /// (nil if the batch was acknowledged). Bounded by a 10 s timeout.
    static func attempt(
        port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity, batch: UsageBatch
    ) async -> (any Error)? {
        do {
            let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security)
            var options = CallOptions.defaults
            options.timeout = .seconds(10)
            return try await withGRPCClient(transport: transport) { client in
                let ingest = WireIngest.Client(wrapping: client)
                return try await ingest.stream(
                    request: StreamingClientRequest { writer in try await writer.write(.with { $0.batch = WireUsageBatch(batch) }) },
                    options: options
                ) { response -> (any Error)? in
                    for try await message in response.messages {
                        if case .ack = message.kind { return nil }
                    }
                    return IngestClientError(description: "no ack")
                }
            }
        } catch {
            return error
        }
    }

    static func mtls(cert: String, key: String, ca: String) -> HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.bytes(Array(cert.utf8), format: .pem)], privateKey: .bytes(Array(key.utf8), format: .pem)) {
            $0.trustRoots = .certificates([.bytes(Array(ca.utf8), format: .pem)])
        }
    }

    static func batch() -> UsageBatch {
        minuteBatch(sequence: 1, minuteStartMillis: recentMinute(), containers: EndToEndTests.twoContainers())
    }

    /// Nothing was committed for any cluster.
    static func expectNothingStored(_ hub: TestHub) async throws {
        let costs = try await hub.withClient { try await $0.costs(.init(window: "24h", aggregate: "cluster")) }
        #expect(costs.steps[0].groups.isEmpty, "nothing may be stored: \(costs.steps[0].groups.map(\.name))")
    }

    @Test("a client without a certificate is refused")
    func noClientCertificate() async throws {
        try await withTestHub { hub in
            let ca = try String(contentsOfFile: hub.caFile, encoding: .utf8)
            let error = await Self.attempt(port: hub.addresses.ingestPort, security: .tls { $0.trustRoots = .certificates([.bytes(Array(ca.utf8), format: .pem)]) }, batch: Self.batch())
            #expect(error != nil)
            try await Self.expectNothingStored(hub)
        }
    }

    @Test("a certificate from another CA is refused")
    func foreignCA() async throws {
        try await withTestHub { hub in
            _ = try await hub.registerCluster("c1")
            let other = try CertificateAuthority.create(commonName: "Someone Else's CA")
            let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "c1")
            let signed = try other.signClusterCSR(csrPEM: csr, clusterName: "c1", validityDays: 30)
            let ca = try String(contentsOfFile: hub.caFile, encoding: .utf8)
            let error = await Self.attempt(port: hub.addresses.ingestPort, security: Self.mtls(cert: signed.certificatePEM, key: key, ca: ca), batch: Self.batch())
            #expect(error != nil)
            try await Self.expectNothingStored(hub)
        }
    }

    @Test("an expired certificate from the hub's own CA is refused")
    func expiredCertificate() async throws {
        try await withTestHub { hub in
            _ = try await hub.registerCluster("c1")
            let hubCA = try CertificateAuthority(
                certificatePEM: String(contentsOfFile: hub.caFile, encoding: .utf8),
                privateKeyPEM: String(contentsOfFile: hub.dataDir + "/ca-key.pem", encoding: .utf8)
            )
            let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "c1")
            let signed = try hubCA.signClusterCSR(csrPEM: csr, clusterName: "c1", validityDays: 1, now: Date().addingTimeInterval(-3 * 86_400))
            let error = await Self.attempt(port: hub.addresses.ingestPort, security: Self.mtls(cert: signed.certificatePEM, key: key, ca: hubCA.certificatePEM), batch: Self.batch())
            #expect(error != nil)
            try await Self.expectNothingStored(hub)
        }
    }

    @Test("a certificate of the hub's CA for a cluster that was never registered is refused")
    func unregisteredCluster() async throws {
        try await withTestHub { hub in
            let hubCA = try CertificateAuthority(
                certificatePEM: String(contentsOfFile: hub.caFile, encoding: .utf8),
                privateKeyPEM: String(contentsOfFile: hub.dataDir + "/ca-key.pem", encoding: .utf8)
            )
            let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "ghost")
            let signed = try hubCA.signClusterCSR(csrPEM: csr, clusterName: "ghost", validityDays: 1)
            let error = await Self.attempt(port: hub.addresses.ingestPort, security: Self.mtls(cert: signed.certificatePEM, key: key, ca: hubCA.certificatePEM), batch: Self.batch())
            let rpc = try #require(error as? RPCError)
            #expect(rpc.code == .permissionDenied)
            #expect(rpc.message.contains("not issued to a registered cluster"))
            try await Self.expectNothingStored(hub)
        }
    }

    @Test("a removed cluster's certificate is refused for new streams")
    func removedCluster() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            _ = try await hub.withClient { try await $0.removeCluster("c1") }
            let error = await Self.attempt(
                port: hub.addresses.ingestPort, security: Self.mtls(cert: bundle.certificatePEM, key: bundle.privateKeyPEM, ca: bundle.caCertificatePEM),
                batch: Self.batch()
            )
            let rpc = try #require(error as? RPCError)
            #expect(rpc.code == .permissionDenied)
            #expect(rpc.message.contains("revoked"))
            try await Self.expectNothingStored(hub)
        }
    }

    @Test("removing a cluster closes its open streams within seconds")
    func removalClosesOpenStream() async throws {
        try await withTestHub { hub in
            let bundle = try await hub.registerCluster("c1")
            let clock = ContinuousClock()
            let closedAfter: Duration? = try await withIngestStream(hub.ingestConfig(bundle), hello: ("agent-1", "node-a")) { stream in
                let first = try await stream.sendAndWait(Self.batch())
                #expect(first == .ack(agentInstanceID: "agent-1", sequence: 1, duplicate: false))
                let removedAt = clock.now
                _ = try await hub.withClient { try await $0.removeCluster("c1") }
                do {
                    for try await _ in stream.replies {}
                    return nil
                } catch let error as RPCError {
                    #expect(error.code == .permissionDenied)
                    return clock.now - removedAt
                }
            }
            let after = try #require(closedAfter, "the stream must end with an error")
            #expect(after < .seconds(5))
        }
    }

    @Test("rotating a certificate refuses the old one and accepts the new one")
    func rotation() async throws {
        try await withTestHub { hub in
            let old = try await hub.registerCluster("c1")
            let (key, csr) = try CSRMaker.makeKeyAndCSR(clusterName: "c1")
            let response = try await hub.withClient { try await $0.rotateCertificate("c1", RotateCertificateRequest(csr: csr)) }
            let new = try ClusterBundle(certificatePEM: response.certificate, privateKeyPEM: key, caCertificatePEM: response.caCertificate)
            #expect(new.certificatePEM != old.certificatePEM)
            let refused = await Self.attempt(port: hub.addresses.ingestPort, security: Self.mtls(cert: old.certificatePEM, key: old.privateKeyPEM, ca: old.caCertificatePEM), batch: Self.batch())
            #expect((refused as? RPCError)?.code == .permissionDenied)
            let accepted = await Self.attempt(port: hub.addresses.ingestPort, security: Self.mtls(cert: new.certificatePEM, key: new.privateKeyPEM, ca: new.caCertificatePEM), batch: Self.batch())
            #expect(accepted == nil)
        }
    }

    @Test("cluster A's certificate stores under A whatever the payload says about B")
    func clusterComesFromCertificate() async throws {
        try await withTestHub { hub in
            let a = try await hub.registerCluster("cluster-a")
            _ = try await hub.registerCluster("cluster-b")
            var containers = EndToEndTests.twoContainers()
            containers[0].identity.labels["kubernetes.io/cluster"] = "cluster-b"
            let batch = minuteBatch(agent: "agent-of-b", sequence: 1, minuteStartMillis: recentMinute(), node: "cluster-b", containers: containers)
            let reply = try await withIngestStream(hub.ingestConfig(a), hello: ("agent-of-b", "cluster-b")) { try await $0.sendAndWait(batch) }
            #expect(reply == .ack(agentInstanceID: "agent-of-b", sequence: 1, duplicate: false))
            let costs = try await hub.withClient { try await $0.costs(.init(window: "24h", aggregate: "cluster")) }
            #expect(costs.steps[0].groups.map(\.name) == ["cluster-a"])
        }
    }
}
