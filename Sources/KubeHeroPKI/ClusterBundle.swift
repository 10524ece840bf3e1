import SwiftASN1
import X509

/// The one PEM file an agent needs to talk to the hub: its client certificate, that
/// certificate's private key, and the hub CA certificate, in that order.
///
/// ```swift
/// let bundle = try ClusterBundle(pemString: String(contentsOfFile: path, encoding: .utf8))
/// bundle.clusterName  // "prod-eu", from the certificate's SAN URI
/// ```
public struct ClusterBundle: Sendable {
    public let certificate: Certificate
    public let caCertificate: Certificate
    public let certificatePEM: String
    /// PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), as it was given.
    public let privateKeyPEM: String
    public let caCertificatePEM: String
    /// The cluster named by ``certificate`` (see ``ClusterIdentity``).
    public let clusterName: String

    static let subject = "bundle"
    static let privateKeyTypes = [PEM.pkcs8PrivateKey, PEM.sec1PrivateKey]

    /// A bundle from its three parts, checking that the key belongs to the certificate and
    /// that the certificate names a cluster.
    public init(certificatePEM: String, privateKeyPEM: String, caCertificatePEM: String) throws {
        try self.init(
            certificate: PEM.block([PEM.certificate], in: certificatePEM, of: "cluster certificate"),
            privateKey: PEM.block(Self.privateKeyTypes, in: privateKeyPEM, of: "cluster private key"),
            caCertificate: PEM.block([PEM.certificate], in: caCertificatePEM, of: "ca certificate")
        )
    }

    /// Reads a bundle written by ``pemString()``, or assembled by hand: blocks are found by
    /// type, in any order. Of the two certificates, the CA is the one whose BasicConstraints
    /// says CA:true, or else the second.
    public init(pemString: String) throws {
        let blocks = try PEM.blocks(in: pemString, of: Self.subject)
        let certificates = blocks.filter { $0.discriminator == PEM.certificate }
        let keys = blocks.filter { Self.privateKeyTypes.contains($0.discriminator) }
        let expected = "a bundle holds the cluster certificate, its private key and the CA certificate"
        guard certificates.count == 2 else {
            throw PKIError(
                .missingPEMBlock, Self.subject,
                "found \(certificates.count) CERTIFICATE block(s), expected 2; \(expected)"
            )
        }
        guard keys.count == 1 else {
            let reason =
                keys.isEmpty
                ? "no PRIVATE KEY (or EC PRIVATE KEY) block; \(expected)"
                : "found \(keys.count) private key blocks, expected 1; \(expected)"
            throw PKIError(.missingPEMBlock, Self.subject, reason)
        }
        let first = try PEM.certificate(in: certificates[0], of: "bundle certificate 1")
        let caIsFirst = first.isCertificateAuthority
        try self.init(
            certificate: certificates[caIsFirst ? 1 : 0],
            privateKey: keys[0],
            caCertificate: certificates[caIsFirst ? 0 : 1]
        )
    }

    private init(certificate certificateBlock: PEMDocument, privateKey: PEMDocument, caCertificate caBlock: PEMDocument) throws {
        let certificate = try PEM.certificate(in: certificateBlock, of: "cluster certificate")
        let caCertificate = try PEM.certificate(in: caBlock, of: "ca certificate")
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemDocument: privateKey)
        } catch {
            throw PKIError(.badPrivateKey, "cluster private key", "cannot parse the private key (\(error))")
        }
        guard key.publicKey == certificate.publicKey else {
            throw PKIError(
                .keyMismatch, "cluster private key",
                "does not belong to cluster certificate \(certificate.quotedSubject): their public keys differ"
            )
        }
        self.certificate = certificate
        self.caCertificate = caCertificate
        self.certificatePEM = PEM.string(certificateBlock)
        self.privateKeyPEM = PEM.string(privateKey)
        self.caCertificatePEM = PEM.string(caBlock)
        self.clusterName = try ClusterIdentity.clusterName(from: certificate)
    }

    /// The bundle file: certificate, private key, CA certificate.
    public func pemString() -> String {
        certificatePEM + privateKeyPEM + caCertificatePEM
    }
}
