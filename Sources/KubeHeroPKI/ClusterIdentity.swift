import KubeHeroCore
import X509

/// How a cluster's name is carried in its client certificate: one SAN URI,
/// `spiffe://kubehero/cluster/<name>`. The subject CN repeats the name for people reading
/// the certificate, but only the URI is trusted.
///
/// ```swift
/// ClusterIdentity.uri(for: "prod-eu")  // "spiffe://kubehero/cluster/prod-eu"
/// ```
public enum ClusterIdentity {
    static let uriPrefix = "spiffe://kubehero/cluster/"

    /// The SAN URI that names `clusterName`.
    public static func uri(for clusterName: String) -> String {
        uriPrefix + clusterName
    }

    /// The cluster named by `certificate`'s SAN URI.
    ///
    /// Throws ``PKIError/Code/notAClusterCertificate`` when the certificate has no such URI,
    /// more than one, or one whose name is not a valid cluster name.
    public static func clusterName(from certificate: Certificate) throws(PKIError) -> String {
        let subject = "certificate \"\(certificate.subject)\""
        let names: SubjectAlternativeNames?
        do {
            names = try certificate.extensions.subjectAlternativeNames
        } catch {
            throw PKIError(.notAClusterCertificate, subject, "its subjectAltName extension cannot be parsed (\(error))")
        }
        let uris = (names ?? SubjectAlternativeNames()).compactMap { name -> String? in
            guard case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix(uriPrefix) else { return nil }
            return uri
        }
        guard let uri = uris.first else {
            throw PKIError(
                .notAClusterCertificate, subject,
                "has no SAN URI \(uriPrefix)<name>; it is not a KubeHero cluster certificate"
            )
        }
        guard uris.count == 1 else {
            throw PKIError(
                .notAClusterCertificate, subject,
                "has \(uris.count) SAN URIs under \(uriPrefix); a cluster certificate names exactly one cluster"
            )
        }
        let name = String(uri.dropFirst(uriPrefix.count))
        do {
            try KubernetesNames.validateDNSLabel(name, field: "name")
        } catch {
            throw PKIError(.notAClusterCertificate, subject, "SAN URI \(uri) does not end in a valid cluster name: \(error.reason)")
        }
        return name
    }
}
