/// One breached, armed hard stop as an edge operator enforces it: new pods in the scope are
/// denied with `message`. The cluster part of the policy's scope is settled at the hub (only
/// matching clusters get the rule).
public struct EnforcementRule: Hashable, Sendable, Codable {
    public let policy: String
    public let namespaceSelector: NamespaceSelector?
    public let podSelector: LabelSelector?
    /// What a denied request is told: the policy, its spend and ceiling.
    public let message: String
    public let sinceMillis: Int64
    /// FNV-1a of everything above, computed once: a set's id is made of its rules' fingerprints.
    public let fingerprint: UInt64

    public init(policy: String, namespaceSelector: NamespaceSelector?, podSelector: LabelSelector?, message: String, sinceMillis: Int64) {
        self.policy = policy
        self.namespaceSelector = namespaceSelector
        self.podSelector = podSelector
        self.message = message
        self.sinceMillis = sinceMillis
        var h = FNV1a()
        h.mix(policy)
        h.mix(message)
        h.mix(String(sinceMillis))
        h.mix(namespaceSelector.map { "\($0.matchNames.sorted())\($0.matchLabels.sorted { $0.key < $1.key })" } ?? "-")
        h.mix(podSelector?.description ?? "-")
        fingerprint = h.value
    }

    private enum CodingKeys: String, CodingKey { case policy, namespaceSelector, podSelector, message, sinceMillis }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            policy: try c.decode(String.self, forKey: .policy),
            namespaceSelector: try c.decodeIfPresent(NamespaceSelector.self, forKey: .namespaceSelector),
            podSelector: try c.decodeIfPresent(LabelSelector.self, forKey: .podSelector),
            message: try c.decode(String.self, forKey: .message), sinceMillis: try c.decode(Int64.self, forKey: .sinceMillis)
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(policy, forKey: .policy)
        try c.encodeIfPresent(namespaceSelector, forKey: .namespaceSelector)
        try c.encodeIfPresent(podSelector, forKey: .podSelector)
        try c.encode(message, forKey: .message)
        try c.encode(sinceMillis, forKey: .sinceMillis)
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

    /// The rules' fingerprints combined: stable across processes.
    private static func digest(_ rules: [EnforcementRule]) -> String {
        var h = FNV1a()
        for r in rules { h.mix(r.fingerprint) }
        let hex = String(h.value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// 64-bit FNV-1a, for ids that must be equal across processes (Swift's `Hasher` is seeded).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func mix(_ s: String) {
        for b in s.utf8 { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
        value = (value ^ 0xff) &* 0x100_0000_01b3
    }

    mutating func mix(_ v: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { value = (value ^ ((v >> UInt64(shift)) & 0xff)) &* 0x100_0000_01b3 }
    }
}
