import Crypto
import KubeHeroCore
import SwiftASN1
import X509

/// Makes the key and certificate signing request a cluster sends to the hub to enroll.
/// The key never leaves the machine that made it; only the CSR is sent.
public enum CSRMaker {
    /// A fresh P-256 key (PKCS#8 PEM) and a CSR for it with subject `CN=<clusterName>`.
    ///
    /// The hub decides the certificate's identity itself, so the CSR only proves possession
    /// of the key; the CN is there for people reading it.
    public static func makeKeyAndCSR(clusterName: String) throws -> (privateKeyPEM: String, csrPEM: String) {
        try KubernetesNames.validateDNSLabel(clusterName, field: "name")
        let key = P256.Signing.PrivateKey()
        let csr = try CertificateSigningRequest(
            version: .v1,
            subject: try DistinguishedName { CommonName(clusterName) },
            privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes()
        )
        return (key.pemRepresentation + "\n", PEM.string(try csr.serializeAsPEM()))
    }
}
