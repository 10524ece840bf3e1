import Foundation
import KubeHeroCore
import KubeHeroPKI
import SwiftASN1
import Testing
import X509

@Suite struct ServerCertificateTests {
    @Test func serverCertificateCarriesTheDNSAndIPSANs() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let issued = try ca.issueServerCertificate(
            dnsNames: ["hub.example.com", "localhost"],
            ipAddresses: ["127.0.0.1", "::1", "2001:db8::8a2e:370:7334"],
            now: signingTime
        )
        let ipv6Loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
        let documentation: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 6) + [0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34]
        #expect(
            try serverSANs(issued.certificate) == [
                .dnsName("hub.example.com"),
                .dnsName("localhost"),
                .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                .ipAddress(ASN1OctetString(contentBytes: ipv6Loopback[...])),
                .ipAddress(ASN1OctetString(contentBytes: documentation[...])),
            ]
        )
    }

    @Test func serverCertificateHasTheServerProfileAndItsOwnKey() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let issued = try ca.issueServerCertificate(dnsNames: ["hub.example.com"], ipAddresses: [], now: signingTime)
        let extensions = issued.certificate.extensions
        #expect(try extensions.basicConstraints == .notCertificateAuthority)
        #expect(try extensions.extendedKeyUsage == ExtendedKeyUsage([.serverAuth]))
        #expect(ca.certificate.publicKey.isValidSignature(issued.certificate.signature, for: issued.certificate))
        #expect(try Certificate.PrivateKey(pemEncoded: issued.privateKeyPEM).publicKey == issued.certificate.publicKey)
        #expect(issued.serialHex.count == 32)
        #expect(try Certificate(pemEncoded: issued.certificatePEM) == issued.certificate)
    }

    @Test func badIPAddressIsRefusedNamingItsIndex() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: ValidationError.self) {
            try ca.issueServerCertificate(dnsNames: ["hub"], ipAddresses: ["10.0.0.1", "10.0.0.256"], now: signingTime)
        }
        #expect(error?.field == "ipAddresses[1]")
    }

    @Test func badDNSNameIsRefusedNamingItsIndex() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        let error = #expect(throws: ValidationError.self) {
            try ca.issueServerCertificate(dnsNames: ["hub example"], ipAddresses: [], now: signingTime)
        }
        #expect(error?.field == "dnsNames[0]")
    }

    @Test func serverCertificateNeedsAtLeastOneName() throws {
        let ca = try CertificateAuthority.create(now: signingTime)
        #expect(throws: ValidationError.self) {
            try ca.issueServerCertificate(dnsNames: [], ipAddresses: [], now: signingTime)
        }
    }
}
