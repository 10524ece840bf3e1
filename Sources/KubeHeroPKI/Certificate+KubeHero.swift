import X509

extension Certificate {
    /// Whether BasicConstraints marks this certificate as a CA. An unparseable extension
    /// counts as "no": nothing is trusted as a CA by accident.
    var isCertificateAuthority: Bool {
        guard let constraints = try? extensions.basicConstraints,
            case .isCertificateAuthority = constraints
        else { return false }
        return true
    }

    /// The serial number as lowercase hex without separators, as KubeHero stores and prints it.
    public var serialHex: String { serialNumber.bytes.hexString }

    /// The subject, quoted, for naming this certificate in error messages.
    var quotedSubject: String { "\"\(subject)\"" }
}
