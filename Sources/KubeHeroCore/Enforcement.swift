/// One breached, armed hard stop as an edge operator enforces it: new pods in the scope are
/// denied with `message`. The cluster part of the policy's scope is settled at the hub (only
/// matching clusters get the rule).
public struct EnforcementRule: Hashable, Sendable, Codable {
    public var policy: String
    public var namespaceSelector: NamespaceSelector?
    public var podSelector: LabelSelector?
    /// What a denied request is told: the policy, its spend and ceiling.
    public var message: String
    public var sinceMillis: Int64

    public init(policy: String, namespaceSelector: NamespaceSelector?, podSelector: LabelSelector?, message: String, sinceMillis: Int64) {
        self.policy = policy
        self.namespaceSelector = namespaceSelector
        self.podSelector = podSelector
        self.message = message
        self.sinceMillis = sinceMillis
    }

    /// Whether a new pod in `namespace` with `podLabels` falls under the rule. `namespaceLabels`
    /// nil: only `kubernetes.io/metadata.name` is known.
    public func matches(namespace: String, podLabels: [String: String], namespaceLabels: [String: String]?) -> Bool {
        if let ns = namespaceSelector, !ns.matches(namespace: namespace, labels: namespaceLabels) { return false }
        if let pods = podSelector, !pods.matches(podLabels) { return false }
        return true
    }
}

/// Everything one cluster must enforce, as a whole: each directive replaces the previous set,
/// so a lift is a set without the rule, and a reconnecting operator gets the current set.
public struct EnforcementSet: Hashable, Sendable, Codable {
    /// Directive kind on the wire.
    public static let directiveKind = "enforcement.set"
    /// Parameter holding the JSON-encoded set.
    public static let parameter = "set"

    /// Identifies the content: equal sets have equal ids (`Directive.id`).
    public var id: String
    public var rules: [EnforcementRule]

    public init(rules: [EnforcementRule]) {
        self.rules = rules.sorted { $0.policy < $1.policy }
        self.id = Self.digest(self.rules)
    }

    public init(id: String, rules: [EnforcementRule]) {
        self.id = id
        self.rules = rules
    }

    /// The first rule a new pod falls under, if any.
    public func denying(namespace: String, podLabels: [String: String], namespaceLabels: [String: String]?) -> EnforcementRule? {
        rules.first { $0.matches(namespace: namespace, podLabels: podLabels, namespaceLabels: namespaceLabels) }
    }

    /// FNV-1a over the rules' policies, messages and scopes: stable across processes.
    private static func digest(_ rules: [EnforcementRule]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) {
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0xff) &* 0x100_0000_01b3
        }
        for r in rules {
            mix(r.policy)
            mix(r.message)
            mix(String(r.sinceMillis))
            mix(r.namespaceSelector.map { "\($0.matchNames.sorted())\($0.matchLabels.sorted { $0.key < $1.key })" } ?? "-")
            mix(r.podSelector?.description ?? "-")
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
