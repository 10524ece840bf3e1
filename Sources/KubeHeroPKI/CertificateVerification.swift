import SwiftASN1
// The non-deprecated way to validate expiry at a given time rather than the wall clock, as
// RFC5280Policy's deprecation message directs.
@_spi(FixedExpiryValidationTime) import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Chain verification of cluster certificates with swift-certificates' `Verifier`, as a
/// second check behind the TLS stack.
public enum CertificateVerification {
    /// Verifies that `certificate` was issued by `caCertificate` (the only trusted root), is
    /// valid at `now` under RFC 5280, and is a cluster client certificate; returns the
    /// cluster's name.
    ///
    /// Throws ``PKIError/Code/verificationFailed`` with the verifier's reasons, or
    /// ``PKIError/Code/notAClusterCertificate``.
    public static func verifyClusterCertificate(
        _ certificate: Certificate,
        caCertificate: Certificate,
        now: Date
    ) async throws -> String {
        let subject = "certificate \(certificate.quotedSubject)"
        // The verifier would refuse these too, but its reasons print whole certificates; a user
        // renewing a certificate needs the dates.
        for (role, checked) in [("", certificate), ("its CA ", caCertificate)] {
            if now < checked.notValidBefore {
                throw PKIError(
                    .verificationFailed, subject,
                    "\(role)is not valid until \(checked.notValidBefore.formatted(.iso8601)) (checked at \(now.formatted(.iso8601)))"
                )
            }
            if now > checked.notValidAfter {
                throw PKIError(
                    .verificationFailed, subject,
                    "\(role)expired at \(checked.notValidAfter.formatted(.iso8601)) (checked at \(now.formatted(.iso8601)))"
                )
            }
        }
        var verifier = Verifier(rootCertificates: CertificateStore([caCertificate])) {
            RFC5280Policy(fixedExpiryValidationTime: now)
            ClusterClientPolicy()
        }
        let result = await verifier.validate(leaf: certificate, intermediates: CertificateStore())
        switch result {
        case .validCertificate:
            return try ClusterIdentity.clusterName(from: certificate)
        case .couldNotValidate(let failures):
            if failures.isEmpty {
                throw PKIError(
                    .verificationFailed, subject,
                    "was not issued by CA \(caCertificate.quotedSubject): no chain to it could be built"
                )
            }
            let reasons = Set(failures.map { String(describing: $0.policyFailureReason) }).sorted()
            throw PKIError(
                .verificationFailed, subject,
                "does not verify against CA \(caCertificate.quotedSubject): \(reasons.joined(separator: "; "))"
            )
        }
    }
}

/// A cluster certificate must be usable for TLS client authentication and name a cluster.
struct ClusterClientPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let leaf = chain.leaf
        guard let usages = try? leaf.extensions.extendedKeyUsage, usages.contains(.clientAuth) else {
            return .failsToMeetPolicy(reason: "extended key usage does not include clientAuth")
        }
        do {
            _ = try ClusterIdentity.clusterName(from: leaf)
        } catch {
            return .failsToMeetPolicy(reason: error.reason)
        }
        return .meetsPolicy
    }
}
