/// A certificate, key or CSR that KubeHero could not use, naming which one (`csr`,
/// `ca private key`, `bundle`, ...) and what is wrong with it.
///
/// Check ``code`` to react to a kind of failure; print the error to tell a user:
///
/// ```swift
/// // csr: PEM block is not a CERTIFICATE REQUEST (found "CERTIFICATE")
/// ```
///
/// Bad plain inputs (a cluster name, a validity period) are reported with `ValidationError`
/// instead, as at every other KubeHero boundary.
public struct PKIError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case badPEM
            case missingPEMBlock
            case badCertificate
            case badPrivateKey
            case badCSR
            case csrSignatureInvalid
            case notACertificateAuthority
            case notAClusterCertificate
            case keyMismatch
            case verificationFailed
        }

        let base: Base

        private init(_ base: Base) { self.base = base }

        /// The text is not PEM, or holds a block of the wrong type.
        public static let badPEM = Self(.badPEM)
        /// A multi-block PEM file lacks a block it must have.
        public static let missingPEMBlock = Self(.missingPEMBlock)
        /// A CERTIFICATE block does not hold a parseable X.509 certificate.
        public static let badCertificate = Self(.badCertificate)
        /// A private key block cannot be parsed, or is not of a supported kind.
        public static let badPrivateKey = Self(.badPrivateKey)
        /// A CERTIFICATE REQUEST block does not hold a parseable PKCS#10 request.
        public static let badCSR = Self(.badCSR)
        /// A CSR's signature does not verify against its own public key.
        public static let csrSignatureInvalid = Self(.csrSignatureInvalid)
        /// A certificate expected to be a CA lacks `BasicConstraints` CA:true.
        public static let notACertificateAuthority = Self(.notACertificateAuthority)
        /// A certificate carries no `spiffe://kubehero/cluster/<name>` SAN URI.
        public static let notAClusterCertificate = Self(.notAClusterCertificate)
        /// A private key does not belong to the certificate it was paired with.
        public static let keyMismatch = Self(.keyMismatch)
        /// A certificate does not chain to the expected CA, or is outside its validity period.
        public static let verificationFailed = Self(.verificationFailed)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// Which object was wrong: `csr`, `ca certificate`, `bundle`, ...
    public var subject: String
    /// What is wrong with it, in words a user can act on.
    public var reason: String

    public init(_ code: Code, _ subject: String, _ reason: String) {
        self.code = code
        self.subject = subject
        self.reason = reason
    }

    public var description: String { "\(subject): \(reason)" }
}
