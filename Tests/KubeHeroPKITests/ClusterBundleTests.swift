import KubeHeroPKI
import Testing
import X509

@Suite struct ClusterBundleTests {
    private func makeBundle() throws -> (ClusterBundle, CertificateAuthority) {
        let ca = try CertificateAuthority.create(now: signingTime)
        let (signed, keyPEM) = try signedClusterCertificate(by: ca, clusterName: "prod-eu")
        let bundle = try ClusterBundle(
            certificatePEM: signed.certificatePEM, privateKeyPEM: keyPEM, caCertificatePEM: ca.certificatePEM)
        return (bundle, ca)
    }

    @Test func bundleRoundTripsThroughItsPEMFile() throws {
        let (bundle, ca) = try makeBundle()
        let reread = try ClusterBundle(pemString: bundle.pemString())
        #expect(reread.certificatePEM == bundle.certificatePEM)
        #expect(reread.privateKeyPEM == bundle.privateKeyPEM)
        #expect(reread.caCertificatePEM == ca.certificatePEM)
        #expect(reread.caCertificate == ca.certificate)
        #expect(reread.clusterName == "prod-eu")
    }

    @Test func bundleFileIsCertificateThenKeyThenCA() throws {
        let (bundle, _) = try makeBundle()
        let beginLines = bundle.pemString().split(separator: "\n").filter { $0.hasPrefix("-----BEGIN") }
        #expect(beginLines == ["-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----"])
    }

    @Test func caCertificateIsFoundByBasicConstraintsWhateverTheOrder() throws {
        let (bundle, ca) = try makeBundle()
        let reordered = bundle.caCertificatePEM + bundle.privateKeyPEM + bundle.certificatePEM
        let reread = try ClusterBundle(pemString: reordered)
        #expect(reread.caCertificate == ca.certificate)
        #expect(reread.clusterName == "prod-eu")
    }

    @Test func bundleMissingItsKeySaysSo() throws {
        let (bundle, _) = try makeBundle()
        let error = #expect(throws: PKIError.self) {
            try ClusterBundle(pemString: bundle.certificatePEM + bundle.caCertificatePEM)
        }
        #expect(error?.code == .missingPEMBlock)
        #expect(error?.description.hasPrefix("bundle: no PRIVATE KEY (or EC PRIVATE KEY) block") == true)
    }

    @Test func bundleMissingTheCACertificateSaysSo() throws {
        let (bundle, _) = try makeBundle()
        let error = #expect(throws: PKIError.self) {
            try ClusterBundle(pemString: bundle.certificatePEM + bundle.privateKeyPEM)
        }
        #expect(error?.code == .missingPEMBlock)
        #expect(error?.description.hasPrefix("bundle: found 1 CERTIFICATE block(s), expected 2") == true)
    }

    @Test func bundleWithAnotherCertificatesKeyIsAKeyMismatch() throws {
        let (bundle, ca) = try makeBundle()
        let (_, otherKeyPEM) = try signedClusterCertificate(by: ca, clusterName: "prod-us")
        let error = #expect(throws: PKIError.self) {
            try ClusterBundle(pemString: bundle.certificatePEM + otherKeyPEM + bundle.caCertificatePEM)
        }
        #expect(error?.code == .keyMismatch)
    }

    @Test func emptyFileIsNotABundle() throws {
        let error = #expect(throws: PKIError.self) {
            try ClusterBundle(pemString: "")
        }
        #expect(error?.code == .badPEM)
        #expect(error?.subject == "bundle")
    }
}
