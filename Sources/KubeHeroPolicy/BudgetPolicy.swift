import Foundation
import KubeHeroCore

/// A BudgetPolicy document: a spending ceiling per period over a scope of clusters,
/// namespaces and pods, with alert thresholds and an optional hard stop.
///
/// Its `Codable` form is the document itself (`apiVersion`, `kind`, `metadata`, `spec`) with
/// every default written out, so that the JSON the API returns can be applied again as it is
/// and two documents that mean the same encode the same. `BudgetPolicyParser` reads YAML (and
/// therefore JSON) strictly.
///
/// ```yaml
/// apiVersion: kubehero.kubehero.io/v1
/// kind: BudgetPolicy
/// metadata: { name: all-prod-ceiling }
/// spec:
///   scope: { clusterSelector: { matchLabels: { env: prod } } }
///   ceiling: "$500000/mo"
/// ```
public struct BudgetPolicy: Hashable, Sendable, Codable {
    public static let apiVersion = "kubehero.kubehero.io/v1"
    public static let kind = "BudgetPolicy"

    public var name: String
    public var spec: Spec

    public init(name: String, spec: Spec) {
        self.name = name
        self.spec = spec
    }

    public struct Spec: Hashable, Sendable, Codable {
        public var scope: Scope
        public var ceiling: Ceiling
        public var period: PeriodKind
        public var thresholds: [Threshold]
        public var alertChannels: [AlertChannel]
        /// Deny new pods in the scope while the policy is breached (and armed).
        public var hardStop: Bool
        /// Enforcement only once a person has armed the policy (`kubehero policy arm`).
        public var humanArm: Bool

        public init(
            scope: Scope, ceiling: Ceiling, period: PeriodKind = .calendar, thresholds: [Threshold] = Threshold.defaults,
            alertChannels: [AlertChannel] = [], hardStop: Bool = false, humanArm: Bool = true
        ) {
            self.scope = scope
            self.ceiling = ceiling
            self.period = period
            self.thresholds = thresholds
            self.alertChannels = alertChannels
            self.hardStop = hardStop
            self.humanArm = humanArm
        }
    }

    public struct Scope: Hashable, Sendable, Codable {
        public var clusterSelector: LabelSelector
        public var namespaceSelector: NamespaceSelector?
        public var podSelector: LabelSelector?

        public init(clusterSelector: LabelSelector, namespaceSelector: NamespaceSelector? = nil, podSelector: LabelSelector? = nil) {
            self.clusterSelector = clusterSelector
            self.namespaceSelector = namespaceSelector
            self.podSelector = podSelector
        }

        /// Whether spend of a container (its cluster's labels, its namespace, its pod's labels)
        /// counts against the policy. Namespace labels are not known at the hub: there a
        /// `namespaceSelector.matchLabels` can match only `kubernetes.io/metadata.name`.
        public func matches(namespace: String, podLabels: [String: String], namespaceLabels: [String: String]? = nil) -> Bool {
            if let ns = namespaceSelector, !ns.matches(namespace: namespace, labels: namespaceLabels) { return false }
            if let pods = podSelector, !pods.matches(podLabels) { return false }
            return true
        }
    }

    public enum PeriodKind: String, Hashable, Sendable, Codable, CaseIterable {
        /// The current UTC hour, day, ISO week (from Monday), month or year.
        case calendar
        /// The last hour, 24 hours, 7 days, 30 days or 365 days up to now.
        case rolling
    }

    public struct Threshold: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
        public enum Basis: String, Hashable, Sendable, Codable, CaseIterable {
            /// Spend so far in the period.
            case actual
            /// Spend forecast for the end of the period.
            case forecast
        }

        public var percent: Int
        public var basis: Basis

        public init(percent: Int, basis: Basis = .actual) {
            self.percent = percent
            self.basis = basis
        }

        /// 50, 80 and 100 percent of actual spend, and 100 percent forecast (in `<` order).
        public static let defaults = [
            Threshold(percent: 50), Threshold(percent: 80), Threshold(percent: 100, basis: .forecast), Threshold(percent: 100),
        ]

        /// `80% actual`; also the key under which a crossing is remembered.
        public var description: String { "\(percent)% \(basis.rawValue)" }

        public static func < (a: Threshold, b: Threshold) -> Bool {
            (a.percent, a.basis == .forecast ? 0 : 1) < (b.percent, b.basis == .forecast ? 0 : 1)
        }
    }

    public struct AlertChannel: Hashable, Sendable, Codable {
        /// An http(s) URL that gets a JSON POST per event (Slack-compatible `text`).
        public var webhook: String

        public init(webhook: String) { self.webhook = webhook }
    }

    /// Whether enforcement may start: a hard stop that needs no arming, or one that is armed.
    public func enforces(armed: Bool) -> Bool { spec.hardStop && (armed || !spec.humanArm) }

    /// The document as JSON with sorted keys and every default written out: equal for two
    /// documents that mean the same, so it is what the store keeps and compares.
    public func canonicalJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types with string keys cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    // MARK: Codable: the document's own shape

    private enum Keys: String, CodingKey { case apiVersion, kind, metadata, spec }
    private enum MetadataKeys: String, CodingKey { case name }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let m = try c.nestedContainer(keyedBy: MetadataKeys.self, forKey: .metadata)
        self.init(name: try m.decode(String.self, forKey: .name), spec: try c.decode(Spec.self, forKey: .spec))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(Self.apiVersion, forKey: .apiVersion)
        try c.encode(Self.kind, forKey: .kind)
        var m = c.nestedContainer(keyedBy: MetadataKeys.self, forKey: .metadata)
        try m.encode(name, forKey: .name)
        try c.encode(spec, forKey: .spec)
    }
}
