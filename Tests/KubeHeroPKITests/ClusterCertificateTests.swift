import Foundation
import KubeHeroCore
import KubeHeroPKI
import SwiftASN1
import Testing
import X509

@Suite struct ClusterCertificateTests {
    @Test func signedCertificateNamesTheClusterInItsSANURIAndVerifiesAgainstTheCA() async throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (signed, _) = try signedClusterCertificate(by: ca, clusterName: "prod-eu")
        let sans = Array(try #require(try signed.certificate.extensions.subjectAlternativeNames))
        #expect(sans == [.uniformResourceIdentifier("spiffe://kubehero/cluster/prod-eu")])
        #expect(try ClusterIdentity.clusterName(from: signed.certificate) == "prod-eu")
        let verified = try await CertificateVerification.verifyClusterCertificate(
            signed.certificate, caCertificate: ca.certificate, now: signingTime)
        #expect(verified == "prod-eu")
    }

    @Test func theHubDecidesTheIdentityWhateverTheCSRAsksFor() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (_, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: "someone-else")
        let signed = try ca.signClusterCSR(csrPEM: csrPEM, clusterName: "prod-eu", validityDays: 30, now: signingTime)
        let subject = signed.certificate.subject
        #expect(values(of: .RDNAttributeType.commonName, in: subject) == ["prod-eu"])
        #expect(values(of: .RDNAttributeType.organizationName, in: subject) == ["kubehero-cluster"])
        #expect(try ClusterIdentity.clusterName(from: signed.certificate) == "prod-eu")
    }

    @Test func clusterCertificateHasTheClientProfile() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (signed, _) = try signedClusterCertificate(by: ca)
        let extensions = signed.certificate.extensions
        #expect(try extensions.basicConstraints == .notCertificateAuthority)
        #expect(try extensions.keyUsage == KeyUsage(digitalSignature: true))
        #expect(try extensions.extendedKeyUsage == ExtendedKeyUsage([.clientAuth]))
        #expect(try extensions.subjectKeyIdentifier == SubjectKeyIdentifier(hash: signed.certificate.publicKey))
        #expect(
            try extensions.authorityKeyIdentifier?.keyIdentifier
                == ca.certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        )
        #expect(signed.certificate.issuer == ca.certificate.subject)
    }

    @Test func validityStartsFiveMinutesEarlyAndRunsForTheGivenDays() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (signed, _) = try signedClusterCertificate(by: ca, validityDays: 90)
        #expect(signed.notBefore == signingTime.addingTimeInterval(-300))
        #expect(signed.notAfter == signingTime.addingTimeInterval(90 * 86_400))
        #expect(signed.certificate.notValidBefore == signed.notBefore)
    }

    @Test func serialIsARandomPositive16ByteNumberPrintedAsLowercaseHex() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (first, _) = try signedClusterCertificate(by: ca)
        let (second, _) = try signedClusterCertificate(by: ca)
        #expect(first.certificate.serialNumber.bytes.count == 16)
        #expect(first.certificate.serialNumber.bytes.first! & 0x80 == 0)
        #expect(first.serialHex.count == 32)
        #expect(first.serialHex.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(first.serialHex != second.serialHex)
    }

    @Test func csrWithTamperedSignatureIsRefused() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (_, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: "prod-eu")
        let genuine = try CertificateSigningRequest(pemEncoded: csrPEM)
        // Same key and signature, different subject: the signature no longer covers the request.
        let tampered = try CertificateSigningRequest(
            version: genuine.version,
            subject: DistinguishedName { CommonName("prod-us") },
            publicKey: genuine.publicKey,
            attributes: genuine.attributes,
            signatureAlgorithm: genuine.signatureAlgorithm,
            signature: genuine.signature
        )
        let tamperedPEM = try tampered.serializeAsPEM().pemString
        let error = #expect(throws: PKIError.self) {
            try ca.signClusterCSR(csrPEM: tamperedPEM, clusterName: "prod-eu", validityDays: 30, now: signingTime)
        }
        #expect(error?.code == .csrSignatureInvalid)
        #expect(error?.subject == "csr")
    }

    @Test func garbageInsteadOfACSRIsRefusedAsNotPEM() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: PKIError.self) {
            try ca.signClusterCSR(csrPEM: "hello, hub", clusterName: "prod-eu", validityDays: 30, now: signingTime)
        }
        #expect(error?.code == .badPEM)
        #expect(error?.description == "csr: not PEM text: no \"-----BEGIN ...-----\" line found")
    }

    @Test func aCertificateInsteadOfACSRIsRefusedNamingTheBlockType() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: PKIError.self) {
            try ca.signClusterCSR(csrPEM: ca.certificatePEM, clusterName: "prod-eu", validityDays: 30, now: signingTime)
        }
        #expect(error?.code == .badPEM)
        #expect(error?.description == "csr: PEM block is not a CERTIFICATE REQUEST (found \"CERTIFICATE\")")
    }

    @Test func aCSRBlockThatIsNotPKCS10IsRefusedAsBadCSR() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let bogus = PEMDocument(type: "CERTIFICATE REQUEST", derBytes: [0x30, 0x03, 0x02, 0x01, 0x01]).pemString
        let error = #expect(throws: PKIError.self) {
            try ca.signClusterCSR(csrPEM: bogus, clusterName: "prod-eu", validityDays: 30, now: signingTime)
        }
        #expect(error?.code == .badCSR)
    }

    @Test func invalidClusterNameIsRefusedNamingTheNameField() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (_, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: "prod-eu")
        let error = #expect(throws: ValidationError.self) {
            try ca.signClusterCSR(csrPEM: csrPEM, clusterName: "Prod_EU", validityDays: 30, now: signingTime)
        }
        #expect(error?.field == "name")
    }

    @Test(arguments: [0, 3651, -1])
    func validityOutsideOneToTenYearsIsRefusedNamingValidityDays(days: Int) throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (_, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: "prod-eu")
        let error = #expect(throws: ValidationError.self) {
            try ca.signClusterCSR(csrPEM: csrPEM, clusterName: "prod-eu", validityDays: days, now: signingTime)
        }
        #expect(error?.field == "validityDays")
    }

    @Test func csrMakerRequestsTheClusterNameAndSignsWithItsKey() throws {
        let (keyPEM, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: "prod-eu")
        let csr = try CertificateSigningRequest(pemEncoded: csrPEM)
        #expect(values(of: .RDNAttributeType.commonName, in: csr.subject) == ["prod-eu"])
        #expect(csr.publicKey.isValidSignature(csr.signature, for: csr))
        #expect(try Certificate.PrivateKey(pemEncoded: keyPEM).publicKey == csr.publicKey)
    }

    @Test func csrMakerRefusesAnInvalidClusterName() throws {
        let error = #expect(throws: ValidationError.self) {
            try CSRMaker.makeKeyAndCSR(clusterName: "-bad")
        }
        #expect(error?.field == "name")
    }

    @Test func aCertificateWithoutTheClusterURIIsNotAClusterCertificate() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: PKIError.self) {
            try ClusterIdentity.clusterName(from: ca.certificate)
        }
        #expect(error?.code == .notAClusterCertificate)
    }

    @Test func clusterURIIsTheSpiffeForm() {
        #expect(ClusterIdentity.uri(for: "prod-eu") == "spiffe://kubehero/cluster/prod-eu")
    }
}
