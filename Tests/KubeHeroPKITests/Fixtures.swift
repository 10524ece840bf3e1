import Foundation
import KubeHeroPKI
import SwiftASN1
import Testing
import X509

/// Whole seconds, because certificates store whole seconds. 2025-06-15T12:00:00Z.
let signingTime = Date(timeIntervalSince1970: 1_749_988_800)

/// A cluster certificate signed by `ca` for `clusterName`, from a fresh key and CSR.
func signedClusterCertificate(
    by ca: CertificateAuthority,
    clusterName: String = "prod-eu",
    validityDays: Int = 365,
    now: Date = signingTime
) throws -> (signed: SignedClusterCertificate, privateKeyPEM: String) {
    let (keyPEM, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: clusterName)
    let signed = try ca.signClusterCSR(csrPEM: csrPEM, clusterName: clusterName, validityDays: validityDays, now: now)
    return (signed, keyPEM)
}

/// The string values of every attribute of type `oid` in `name`.
func values(of oid: ASN1ObjectIdentifier, in name: DistinguishedName) -> [String] {
    name.flatMap { $0 }.filter { $0.type == oid }.compactMap { String($0.value) }
}

func serverSANs(_ certificate: Certificate) throws -> [GeneralName] {
    Array(try #require(try certificate.extensions.subjectAlternativeNames))
}
