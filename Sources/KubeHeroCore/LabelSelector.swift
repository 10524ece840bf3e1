/// A Kubernetes label selector (`matchLabels` and `matchExpressions`), as BudgetPolicy scopes
/// use it for clusters and pods. Every requirement must hold; an empty selector matches
/// everything.
///
/// ```swift
/// let prod = LabelSelector(matchLabels: ["env": "prod"])
/// prod.matches(["env": "prod", "region": "eu"])   // true
/// ```
public struct LabelSelector: Hashable, Sendable, Codable {
    public enum Operator: String, Hashable, Sendable, Codable, CaseIterable {
        case `in` = "In"
        case notIn = "NotIn"
        case exists = "Exists"
        case doesNotExist = "DoesNotExist"
    }

    public struct Requirement: Hashable, Sendable, Codable {
        public var key: String
        public var `operator`: Operator
        /// Non-empty for In and NotIn; empty for Exists and DoesNotExist.
        public var values: [String]

        public init(key: String, operator: Operator, values: [String] = []) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }

        public func matches(_ labels: [String: String]) -> Bool {
            switch self.operator {
            case .in: labels[key].map(values.contains) ?? false
            case .notIn: labels[key].map { !values.contains($0) } ?? true
            case .exists: labels[key] != nil
            case .doesNotExist: labels[key] == nil
            }
        }

        /// Checks the key, the values and that their number fits the operator.
        public func validate(field: String) throws(ValidationError) {
            try KubernetesNames.validateLabelKey(key, field: "\(field).key")
            switch self.operator {
            case .in, .notIn:
                if values.isEmpty { throw ValidationError(field: "\(field).values", "must not be empty for operator \(self.operator.rawValue)") }
            case .exists, .doesNotExist:
                if !values.isEmpty { throw ValidationError(field: "\(field).values", "must be empty for operator \(self.operator.rawValue)") }
            }
            for (i, v) in values.enumerated() { try KubernetesNames.validateLabelValue(v, field: "\(field).values[\(i)]") }
        }
    }

    public var matchLabels: [String: String]
    public var matchExpressions: [Requirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    public var isEmpty: Bool { matchLabels.isEmpty && matchExpressions.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        for (k, v) in matchLabels where labels[k] != v { return false }
        return matchExpressions.allSatisfy { $0.matches(labels) }
    }

    public func validate(field: String) throws(ValidationError) {
        try KubernetesNames.validateLabels(matchLabels, field: "\(field).matchLabels")
        for (i, r) in matchExpressions.enumerated() { try r.validate(field: "\(field).matchExpressions[\(i)]") }
    }

    /// `env=prod,tier in (gold,silver),!legacy`, as kubectl prints selectors.
    public var description: String {
        let labels = matchLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let exprs = matchExpressions.map { r -> String in
            switch r.operator {
            case .in: "\(r.key) in (\(r.values.joined(separator: ",")))"
            case .notIn: "\(r.key) notin (\(r.values.joined(separator: ",")))"
            case .exists: r.key
            case .doesNotExist: "!\(r.key)"
            }
        }
        let all = labels + exprs
        return all.isEmpty ? "(all)" : all.joined(separator: ",")
    }
}

/// Which namespaces a scope covers: by name, by label, or both (both must hold). An empty
/// selector matches every namespace.
public struct NamespaceSelector: Hashable, Sendable, Codable {
    /// The well-known label every namespace carries with its own name.
    public static let nameLabel = "kubernetes.io/metadata.name"

    public var matchNames: [String]
    public var matchLabels: [String: String]

    public init(matchNames: [String] = [], matchLabels: [String: String] = [:]) {
        self.matchNames = matchNames
        self.matchLabels = matchLabels
    }

    public var isEmpty: Bool { matchNames.isEmpty && matchLabels.isEmpty }

    /// Whether a namespace matches, given its labels (nil when they are not known: then only
    /// `kubernetes.io/metadata.name` is assumed, which every namespace has).
    public func matches(namespace: String, labels: [String: String]?) -> Bool {
        if !matchNames.isEmpty && !matchNames.contains(namespace) { return false }
        if matchLabels.isEmpty { return true }
        let known = labels ?? [Self.nameLabel: namespace]
        for (k, v) in matchLabels {
            let value = k == Self.nameLabel ? namespace : known[k]
            if value != v { return false }
        }
        return true
    }

    public func validate(field: String) throws(ValidationError) {
        for (i, name) in matchNames.enumerated() { try KubernetesNames.validateDNSLabel(name, field: "\(field).matchNames[\(i)]") }
        try KubernetesNames.validateLabels(matchLabels, field: "\(field).matchLabels")
    }
}
