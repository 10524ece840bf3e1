import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Kubernetes' validating admission webhook protocol (`admission.k8s.io/v1` AdmissionReview),
/// answered against an enforcement set. The edge operator and the hub (single-cluster
/// installs) serve it with the same code.
public enum AdmissionReview {
    public static let apiVersion = "admission.k8s.io/v1"

    public struct Decision: Hashable, Sendable {
        public var uid: String
        public var allowed: Bool
        /// The rule that denied the request.
        public var policy: String?
        public var message: String?
    }

    private struct Review: Decodable {
        var apiVersion: String?
        var kind: String?
        var request: Request?
    }

    private struct Request: Decodable {
        var uid: String?
        var kind: Kind?
        var namespace: String?
        var operation: String?
        var object: Object?
    }

    private struct Kind: Decodable {
        var group: String?
        var version: String?
        var kind: String?
    }

    private struct Object: Decodable {
        var metadata: Metadata?
    }

    private struct Metadata: Decodable {
        var namespace: String?
        var labels: [String: String]?
    }

    /// The decision for one AdmissionReview request body. Only pod creations can be denied;
    /// everything else is allowed. Throws naming what is wrong with a body that is not an
    /// AdmissionReview v1 request.
    /// - Parameter namespaceLabels: the labels of a namespace when known (nil: only
    ///   `kubernetes.io/metadata.name` is assumed).
    public static func decide(
        _ body: [UInt8], set: EnforcementSet, namespaceLabels: (String) -> [String: String]? = { _ in nil }
    ) throws(ValidationError) -> Decision {
        let review: Review
        do {
            review = try JSONDecoder().decode(Review.self, from: Data(body))
        } catch {
            throw ValidationError(field: "body", "not an AdmissionReview JSON document: \(error)")
        }
        guard review.apiVersion == apiVersion, review.kind == "AdmissionReview" else {
            throw ValidationError(field: "apiVersion", "expected apiVersion \(apiVersion) and kind AdmissionReview, got \(review.apiVersion ?? "none") \(review.kind ?? "none")")
        }
        guard let request = review.request else { throw ValidationError(field: "request", "missing") }
        guard let uid = request.uid, !uid.isEmpty else { throw ValidationError(field: "request.uid", "missing") }
        let isPod = request.kind?.kind == "Pod" && (request.kind?.group ?? "") == ""
        guard isPod, request.operation == "CREATE" else { return Decision(uid: uid, allowed: true) }
        guard let namespace = request.namespace ?? request.object?.metadata?.namespace, !namespace.isEmpty else {
            throw ValidationError(field: "request.namespace", "missing for a pod")
        }
        let labels = request.object?.metadata?.labels ?? [:]
        if let rule = set.denying(namespace: namespace, podLabels: labels, namespaceLabels: namespaceLabels(namespace)) {
            return Decision(uid: uid, allowed: false, policy: rule.policy, message: rule.message)
        }
        return Decision(uid: uid, allowed: true)
    }

    /// The AdmissionReview v1 response document for a decision.
    public static func response(_ d: Decision) -> [UInt8] {
        var status = ""
        if !d.allowed {
            status = #","status":{"code":403,"reason":"Forbidden","message":\#(JSONText.quoted(d.message ?? "denied"))}"#
        }
        let json = #"{"apiVersion":"\#(apiVersion)","kind":"AdmissionReview","response":{"uid":\#(JSONText.quoted(d.uid)),"allowed":\#(d.allowed)\#(status)}}"#
        return Array(json.utf8)
    }
}
