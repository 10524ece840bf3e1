import Foundation
import KubeHeroPKI
import Testing
import X509

@Suite struct VerificationTests {
    @Test func certificateFromAnotherCAFailsVerification() async throws {
        let ours = try CertificateAuthority.create(now: signingTime)
        let theirs = try CertificateAuthority.create(now: signingTime)
        let (signed, _) = try signedClusterCertificate(by: theirs)
        let error = await #expect(throws: PKIError.self) {
            try await CertificateVerification.verifyClusterCertificate(
                signed.certificate, caCertificate: ours.certificate, now: signingTime)
        }
        #expect(error?.code == .verificationFailed)
        #expect(error?.reason.hasPrefix("was not issued by CA \"CN=KubeHero Hub CA\"") == true)
    }

    @Test func expiredCertificateFailsVerification() async throws {
        let today = signingTime
        let monthAgo = today.addingTimeInterval(-30 * 86_400)
        let ca = try CertificateAuthority.create(now: monthAgo)
        let (signed, _) = try signedClusterCertificate(by: ca, validityDays: 1, now: monthAgo)
        let error = await #expect(throws: PKIError.self) {
            try await CertificateVerification.verifyClusterCertificate(
                signed.certificate, caCertificate: ca.certificate, now: today)
        }
        #expect(error?.code == .verificationFailed)
        #expect(error?.reason.hasPrefix("expired at 2025-05-17T12:00:00Z") == true)
    }

    @Test func certificateNotYetValidFailsVerification() async throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (signed, _) = try signedClusterCertificate(by: ca, now: signingTime.addingTimeInterval(86_400))
        let error = await #expect(throws: PKIError.self) {
            try await CertificateVerification.verifyClusterCertificate(
                signed.certificate, caCertificate: ca.certificate, now: signingTime)
        }
        #expect(error?.code == .verificationFailed)
        #expect(error?.reason.hasPrefix("is not valid until 2025-06-16T11:55:00Z") == true)
    }

    @Test func serverCertificateIsNotAcceptedAsAClusterCertificate() async throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let server = try ca.issueServerCertificate(dnsNames: ["hub.example.com"], ipAddresses: [], now: signingTime)
        let error = await #expect(throws: PKIError.self) {
            try await CertificateVerification.verifyClusterCertificate(
                server.certificate, caCertificate: ca.certificate, now: signingTime)
        }
        #expect(error?.code == .verificationFailed)
        #expect(error?.reason.contains("extended key usage does not include clientAuth") == true)
    }
}
