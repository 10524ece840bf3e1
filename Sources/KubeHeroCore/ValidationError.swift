/// An input that broke a rule, naming where (a field path such as `containers[3].namespace`
/// or `--label`) and what is wrong, in words a user can act on.
///
/// Every boundary of KubeHero (wire batches, REST bodies, CLI flags, config files) reports bad
/// input with this type, so that messages look the same everywhere:
///
/// ```swift
/// throw ValidationError(field: "name", "must be at most 63 characters, got 70")
/// // name: must be at most 63 characters, got 70
/// ```
public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the bad value was: a field path, a flag, a query parameter.
    public var field: String
    /// What is wrong with it.
    public var reason: String

    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }

    /// The same error, located inside a parent field (`node` + `name` -> `node.name`).
    public func nested(in parent: String) -> ValidationError {
        ValidationError(field: field.isEmpty ? parent : (field.hasPrefix("[") ? parent + field : parent + "." + field), reason)
    }
}
