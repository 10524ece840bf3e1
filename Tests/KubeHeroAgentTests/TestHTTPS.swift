import Hummingbird
import HummingbirdTLS
import KubeHeroPKI
import Logging
import NIOCore
import NIOSSL

/// A Hummingbird server on 127.0.0.1 over real TLS, for the kubelet and the API server.
enum TestHTTPS {
    /// Serves `router` with a certificate from `ca` for 127.0.0.1 (and `node-1`) on a free port,
    /// runs `body` with the port, and stops the server afterwards.
    static func serve<R: Sendable>(
        _ router: Router<BasicRequestContext>, ca: CertificateAuthority, logger: Logger,
        _ body: @Sendable (Int) async throws -> R
    ) async throws -> R {
        let serving = try ca.issueServerCertificate(dnsNames: ["node-1"], ipAddresses: ["127.0.0.1"])
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serving.certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.privateKeyPEM.utf8), format: .pem))
        )
        tls.minimumTLSVersion = .tlsv12
        let (ports, bound) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in bound.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw MetadataTestError("the test HTTPS server did not start") }
            defer { group.cancelAll() }
            return try await body(port)
        }
    }
}
