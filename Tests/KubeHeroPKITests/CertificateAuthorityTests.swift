import Crypto
import Foundation
import KubeHeroCore
import KubeHeroPKI
import Testing
import X509

@Suite struct CertificateAuthorityTests {
    @Test func createdCAIsASelfSignedP256CA() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        #expect(values(of: .RDNAttributeType.commonName, in: ca.certificate.subject) == ["KubeHero Hub CA"])
        #expect(ca.certificate.issuer == ca.certificate.subject)
        #expect(ca.certificate.publicKey.isValidSignature(ca.certificate.signature, for: ca.certificate))
        #expect(try ca.certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(P256.Signing.PublicKey(ca.certificate.publicKey) != nil)
        #expect(ca.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    }

    @Test func reloadingFromPEMGivesTheSameCA() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let reloaded = try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        #expect(reloaded.certificate == ca.certificate)
        #expect(reloaded.certificatePEM == ca.certificatePEM)
        #expect(reloaded.privateKeyPEM == ca.privateKeyPEM)
    }

    @Test func reloadedCASignsCertificatesTheOriginalCertificateVerifies() async throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let reloaded = try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: ca.privateKeyPEM)
        let (signed, _) = try signedClusterCertificate(by: reloaded)
        let name = try await CertificateVerification.verifyClusterCertificate(
            signed.certificate, caCertificate: ca.certificate, now: signingTime)
        #expect(name == "prod-eu")
    }

    @Test func reloadingWithAnotherCAsKeyFailsWithKeyMismatch() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let other = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority(certificatePEM: ca.certificatePEM, privateKeyPEM: other.privateKeyPEM)
        }
        #expect(error?.code == .keyMismatch)
        #expect(error?.description.hasPrefix("ca private key: does not belong to ca certificate") == true)
    }

    @Test func reloadingWithAKeyWhereTheCertificateShouldBeNamesTheCertificate() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority(certificatePEM: ca.privateKeyPEM, privateKeyPEM: ca.privateKeyPEM)
        }
        #expect(error?.code == .badPEM)
        #expect(error?.description == "ca certificate: PEM block is not a CERTIFICATE (found \"PRIVATE KEY\")")
    }

    @Test func aLeafCertificateCannotBeLoadedAsTheCA() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (signed, keyPEM) = try signedClusterCertificate(by: ca)
        let error = #expect(throws: PKIError.self) {
            try CertificateAuthority(certificatePEM: signed.certificatePEM, privateKeyPEM: keyPEM)
        }
        #expect(error?.code == .notACertificateAuthority)
    }

    @Test func caValidityOutsideItsRangeIsRefusedNamingValidityDays() throws {
        let error = #expect(throws: ValidationError.self) {
            try CertificateAuthority.create(validityDays: 0, now: signingTime)
        }
        #expect(error?.field == "validityDays")
    }
}
