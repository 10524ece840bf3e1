import Crypto
import KubeHeroCore
import SwiftASN1
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A server certificate issued by the hub CA, with the key generated for it.
public struct IssuedCertificate: Sendable {
    public var certificate: Certificate
    public var certificatePEM: String
    /// PKCS#8 PEM of the certificate's private key.
    public var privateKeyPEM: String
    /// Lowercase hex of the serial number, no separators.
    public var serialHex: String
}

/// A cluster client certificate issued from a CSR. The key stays with the cluster.
public struct SignedClusterCertificate: Sendable {
    public var certificate: Certificate
    public var certificatePEM: String
    /// Lowercase hex of the serial number, no separators.
    public var serialHex: String
    /// As written in the certificate (whole seconds), 5 minutes before signing.
    public var notBefore: Date
    public var notAfter: Date
}

/// The hub's certificate authority: an ECDSA P-256 key and its self-signed certificate.
///
/// It issues two kinds of leaf certificate, both through one code path: the hub's TLS
/// server certificate and cluster client certificates whose identity is fixed by the hub,
/// whatever the CSR asked for.
///
/// ```swift
/// let ca = try CertificateAuthority.create()
/// let signed = try ca.signClusterCSR(csrPEM: csr, clusterName: "prod-eu", validityDays: 365)
/// ```
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let certificatePEM: String
    private let signingKey: P256.Signing.PrivateKey
    private let keyIdentifier: ArraySlice<UInt8>

    /// PKCS#8 PEM of the CA's private key.
    public var privateKeyPEM: String { signingKey.pemRepresentation + "\n" }

    /// Leaf certificates start this far in the past, so that a peer whose clock is a little
    /// behind does not reject a certificate issued a moment ago.
    static let clockSkew: TimeInterval = 5 * 60
    static let caValidityDays = 1...36_500
    static let leafValidityDays = 1...3650
    static let clusterOrganization = "kubehero-cluster"

    /// A new CA with a fresh key.
    public static func create(
        commonName: String = "KubeHero Hub CA",
        validityDays: Int = 3650,
        now: Date = Date()
    ) throws -> CertificateAuthority {
        if commonName.isEmpty { throw ValidationError(field: "commonName", "must not be empty") }
        try validate(validityDays: validityDays, in: caValidityDays)
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let name = try DistinguishedName { CommonName(commonName) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: randomSerialNumber(),
            publicKey: publicKey,
            notValidBefore: now - clockSkew,
            notValidAfter: now + days(validityDays),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // Path length 0: this CA signs leaf certificates only, never another CA.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return try CertificateAuthority(certificate: certificate, signingKey: key)
    }

    /// Loads a CA saved with ``certificatePEM`` and ``privateKeyPEM``, checking that the
    /// certificate is a CA and that the key is the one it certifies.
    ///
    /// The key may be PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), and must be P-256.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        let certificate = try PEM.certificate(pem: certificatePEM, of: "ca certificate")
        guard certificate.isCertificateAuthority else {
            throw PKIError(
                .notACertificateAuthority, "ca certificate",
                "\(certificate.quotedSubject) is not a CA: its BasicConstraints extension does not say CA:true"
            )
        }
        let key = try Self.p256Key(pem: privateKeyPEM, of: "ca private key")
        guard Certificate.PublicKey(key.publicKey) == certificate.publicKey else {
            throw PKIError(
                .keyMismatch, "ca private key",
                "does not belong to ca certificate \(certificate.quotedSubject): their public keys differ"
            )
        }
        try self.init(certificate: certificate, signingKey: key)
    }

    private init(certificate: Certificate, signingKey: P256.Signing.PrivateKey) throws {
        self.certificate = certificate
        self.certificatePEM = try PEM.string(certificate)
        self.signingKey = signingKey
        self.keyIdentifier =
            (try? certificate.extensions.subjectKeyIdentifier)?.keyIdentifier
            ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
    }

    /// The DNS names and IP addresses (as text) of a server certificate this CA signed, e.g.
    /// one made elsewhere for `kubehero-hub init --pki-dir`. Throws `.verificationFailed` when
    /// this CA did not sign it.
    public func serverNames(ofIssued pem: String) throws -> [String] {
        let server = try PEM.certificate(pem: pem, of: "server certificate")
        guard server.issuer == certificate.subject, certificate.publicKey.isValidSignature(server.signature, for: server) else {
            throw PKIError(.verificationFailed, "server certificate", "\(server.quotedSubject) was not signed by the CA \(certificate.quotedSubject)")
        }
        return ((try? server.extensions.subjectAlternativeNames) ?? nil)?.compactMap { name -> String? in
            switch name {
            case .dnsName(let dns): return dns
            case .ipAddress(let octets):
                let bytes = Array(octets.bytes)
                if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
                // IPv6 uncompressed: only shown and recorded, never parsed back.
                return stride(from: 0, to: bytes.count - 1, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
            default: return nil
            }
        } ?? []
    }

    /// A TLS server certificate for the hub, with a fresh P-256 key.
    ///
    /// Every entry of `dnsNames` and `ipAddresses` (IPv4 or IPv6 text) becomes a SAN; at least
    /// one is required.
    public func issueServerCertificate(
        dnsNames: [String],
        ipAddresses: [String],
        validityDays: Int = 825,
        now: Date = Date()
    ) throws -> IssuedCertificate {
        if dnsNames.isEmpty && ipAddresses.isEmpty {
            throw ValidationError(field: "dnsNames", "give at least one DNS name or IP address for the server certificate")
        }
        try Self.validate(validityDays: validityDays, in: Self.leafValidityDays)
        var names = [GeneralName]()
        for (index, name) in dnsNames.enumerated() {
            try Self.validateDNSName(name, field: "dnsNames[\(index)]")
            names.append(.dnsName(name))
        }
        for (index, address) in ipAddresses.enumerated() {
            guard let bytes = IPAddress.bytes(address) else {
                throw ValidationError(field: "ipAddresses[\(index)]", "\"\(address)\" is not an IPv4 or IPv6 address")
            }
            names.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...])))
        }
        // Clients check the SANs; the CN is only a label, and is limited to 64 characters.
        let label = dnsNames.first ?? ipAddresses[0]
        let key = P256.Signing.PrivateKey()
        let certificate = try issue(
            publicKey: Certificate.PublicKey(key.publicKey),
            subject: try DistinguishedName { CommonName(label.count <= 64 ? label : "kubehero-hub") },
            names: names,
            usage: .serverAuth,
            validityDays: validityDays,
            now: now
        )
        return IssuedCertificate(
            certificate: certificate,
            certificatePEM: try PEM.string(certificate),
            privateKeyPEM: key.pemRepresentation + "\n",
            serialHex: certificate.serialHex
        )
    }

    /// A client certificate for cluster `clusterName`, for the key in `csrPEM`.
    ///
    /// Only the CSR's public key is used, after its signature has been checked: the subject
    /// (`O=kubehero-cluster, CN=<name>`), the SAN (``ClusterIdentity/uri(for:)``) and the
    /// usages are the hub's decision, not the requester's.
    public func signClusterCSR(
        csrPEM: String,
        clusterName: String,
        validityDays: Int,
        now: Date = Date()
    ) throws -> SignedClusterCertificate {
        try KubernetesNames.validateDNSLabel(clusterName, field: "name")
        try Self.validate(validityDays: validityDays, in: Self.leafValidityDays)
        let csr = try Self.verifiedCSR(pem: csrPEM)
        let certificate = try issue(
            publicKey: csr.publicKey,
            subject: try DistinguishedName {
                OrganizationName(Self.clusterOrganization)
                CommonName(clusterName)
            },
            names: [.uniformResourceIdentifier(ClusterIdentity.uri(for: clusterName))],
            usage: .clientAuth,
            validityDays: validityDays,
            now: now
        )
        return SignedClusterCertificate(
            certificate: certificate,
            certificatePEM: try PEM.string(certificate),
            serialHex: certificate.serialHex,
            notBefore: certificate.notValidBefore,
            notAfter: certificate.notValidAfter
        )
    }

    /// The one place leaf certificates are made, so server and cluster certificates share
    /// their profile: not a CA, digitalSignature only, one extended usage, linked key IDs.
    private func issue(
        publicKey: Certificate.PublicKey,
        subject: DistinguishedName,
        names: [GeneralName],
        usage: ExtendedKeyUsage.Usage,
        validityDays: Int,
        now: Date
    ) throws -> Certificate {
        // A leaf that outlives its CA would fail verification anyway; say so in the leaf.
        let notAfter = min(now + Self.days(validityDays), certificate.notValidAfter)
        return try Certificate(
            version: .v3,
            serialNumber: Self.randomSerialNumber(),
            publicKey: publicKey,
            notValidBefore: now - Self.clockSkew,
            notValidAfter: notAfter,
            issuer: certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([usage])
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(signingKey)
        )
    }

    private static func verifiedCSR(pem: String) throws(PKIError) -> CertificateSigningRequest {
        let document = try PEM.block([PEM.certificateRequest], in: pem, of: "csr")
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(derEncoded: document.derBytes)
        } catch {
            throw PKIError(.badCSR, "csr", "cannot parse the PKCS#10 request (\(error))")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw PKIError(
                .csrSignatureInvalid, "csr",
                "signature does not verify against the request's own public key: the request was altered, or signed with another key"
            )
        }
        return csr
    }

    private static func p256Key(pem: String, of subject: String) throws(PKIError) -> P256.Signing.PrivateKey {
        let document = try PEM.block([PEM.pkcs8PrivateKey, PEM.sec1PrivateKey], in: pem, of: subject)
        do {
            return try P256.Signing.PrivateKey(derRepresentation: document.derBytes)
        } catch {
            throw PKIError(.badPrivateKey, subject, "not an ECDSA P-256 private key (\(error))")
        }
    }

    /// A random positive 16-byte serial. The top bits are fixed to 01 so that the DER INTEGER
    /// is exactly 16 bytes (no sign byte, no stripped leading zero): 126 random bits.
    private static func randomSerialNumber() -> Certificate.SerialNumber {
        var bytes = SecureRandom.bytes(16)
        bytes[0] = (bytes[0] & 0x3f) | 0x40
        return Certificate.SerialNumber(bytes: bytes)
    }

    private static func days(_ count: Int) -> TimeInterval {
        TimeInterval(count) * 24 * 60 * 60
    }

    private static func validate(validityDays: Int, in range: ClosedRange<Int>) throws(ValidationError) {
        guard range.contains(validityDays) else {
            throw ValidationError(
                field: "validityDays",
                "must be between \(range.lowerBound) and \(range.upperBound) days, got \(validityDays)"
            )
        }
    }

    /// Letters, digits, '-' and '.', optionally behind a leading "*." wildcard. The hub's names
    /// come from its own configuration, so this catches typos rather than attacks.
    private static func validateDNSName(_ name: String, field: String) throws(ValidationError) {
        let host = name.hasPrefix("*.") ? name.dropFirst(2) : Substring(name)
        let ok =
            !host.isEmpty && host.utf8.count <= 253
            && host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
        if !ok {
            throw ValidationError(field: field, "\"\(name)\" is not a valid DNS name")
        }
    }
}
