import KubeHeroCore
import Yams

/// Why a BudgetPolicy document was refused: where (source, line, field path) and what.
///
/// ```
/// prod.yaml:7: spec.ceiling: "500k" is not a ceiling: write dollars, ...
/// ```
public struct PolicyDocumentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file (or `request body`) the document came from.
    public var source: String
    /// 1-based line of the offending node, when known.
    public var line: Int?
    /// The field path, such as `spec.scope.clusterSelector.matchExpressions[0].operator`.
    public var field: String
    public var reason: String

    public init(source: String, line: Int?, field: String, reason: String) {
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        "\(source)\(line.map { ":\($0)" } ?? ""): \(field.isEmpty ? "" : field + ": ")\(reason)"
    }
}

/// Reads BudgetPolicy documents from YAML (or JSON, which is YAML) strictly: unknown fields,
/// wrong types, bad selectors, ceilings and thresholds are errors naming line and field.
public enum BudgetPolicyParser {
    /// Every document of a YAML stream (`---`-separated); empty documents are skipped.
    public static func parseAll(yaml text: String, source: String) throws(PolicyDocumentError) -> [BudgetPolicy] {
        var out: [BudgetPolicy] = []
        var names: [String: Int] = [:]
        do {
            // The sequence keeps a parse error to itself: read it once the documents end.
            var documents = try Yams.compose_all(yaml: text)
            while let root = documents.next() {
                let policy = try read(root, source: source)
                if let line = names[policy.name] {
                    throw PolicyDocumentError(
                        source: source, line: root.mark?.line, field: "metadata.name",
                        reason: "\"\(policy.name)\" is defined twice (first at line \(line))"
                    )
                }
                names[policy.name] = root.mark?.line ?? 0
                out.append(policy)
            }
            if let error = documents.error { throw error }
        } catch let error as PolicyDocumentError {
            throw error
        } catch let error as YamlError {
            throw yamlError(error, source: source)
        } catch {
            throw PolicyDocumentError(source: source, line: nil, field: "", reason: "not valid YAML: \(error)")
        }
        return out
    }

    /// Exactly one document.
    public static func parse(yaml text: String, source: String) throws(PolicyDocumentError) -> BudgetPolicy {
        let all = try parseAll(yaml: text, source: source)
        guard all.count == 1 else {
            throw PolicyDocumentError(source: source, line: nil, field: "", reason: "expected one BudgetPolicy document, found \(all.count)")
        }
        return all[0]
    }

    private static func yamlError(_ error: YamlError, source: String) -> PolicyDocumentError {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return PolicyDocumentError(source: source, line: mark.line, field: "", reason: "not valid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return PolicyDocumentError(
                source: source, line: context.mark.line, field: "",
                reason: "duplicated key(s) \(duplicates.sorted().joined(separator: ", "))"
            )
        default:
            return PolicyDocumentError(source: source, line: nil, field: "", reason: "not valid YAML: \(error)")
        }
    }

    // MARK: Reading the tree

    private static func read(_ root: Node, source: String) throws(PolicyDocumentError) -> BudgetPolicy {
        let r = Reader(source: source)
        let top = try r.mapping(root, "", required: ["apiVersion", "kind", "metadata", "spec"], optional: ["status"])
        let apiVersion = try r.string(top["apiVersion"]!, "apiVersion")
        guard apiVersion == BudgetPolicy.apiVersion else {
            throw r.error(top["apiVersion"]!, "apiVersion", "is \"\(apiVersion)\"; expected \"\(BudgetPolicy.apiVersion)\"")
        }
        let kind = try r.string(top["kind"]!, "kind")
        guard kind == BudgetPolicy.kind else { throw r.error(top["kind"]!, "kind", "is \"\(kind)\"; expected \"\(BudgetPolicy.kind)\"") }
        // Kubernetes adds these to objects it returns; they are accepted and ignored so that
        // `kubectl get bp -o yaml` output can be applied.
        let metadata = try r.mapping(
            top["metadata"]!, "metadata", required: ["name"],
            optional: ["labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"]
        )
        let nameNode = metadata["name"]!
        let name = try r.string(nameNode, "metadata.name")
        try r.check(nameNode, "metadata.name") { () throws(ValidationError) in try KubernetesNames.validateDNSLabel(name, field: "") }

        let specNode = top["spec"]!
        let spec = try r.mapping(
            specNode, "spec", required: ["scope", "ceiling"],
            optional: ["period", "thresholds", "alertChannels", "hardStop", "humanArm"]
        )
        let scope = try readScope(spec["scope"]!, r)
        let ceilingNode = spec["ceiling"]!
        let ceilingText = try r.string(ceilingNode, "spec.ceiling")
        let ceiling = try r.check(ceilingNode, "spec.ceiling") { () throws(ValidationError) in try Ceiling(parsing: ceilingText, field: "") }

        var period = BudgetPolicy.PeriodKind.calendar
        if let node = spec["period"] {
            let text = try r.string(node, "spec.period")
            guard let p = BudgetPolicy.PeriodKind(rawValue: text) else {
                throw r.error(node, "spec.period", "\"\(text)\" is not one of calendar, rolling")
            }
            period = p
        }
        var thresholds = BudgetPolicy.Threshold.defaults
        if let node = spec["thresholds"] {
            thresholds = try readThresholds(node, r)
        }
        var channels: [BudgetPolicy.AlertChannel] = []
        if let node = spec["alertChannels"] {
            for (i, item) in try r.sequence(node, "spec.alertChannels").enumerated() {
                let field = "spec.alertChannels[\(i)]"
                let m = try r.mapping(item, field, required: ["webhook"], optional: [])
                let url = try r.string(m["webhook"]!, "\(field).webhook")
                let lower = url.lowercased()
                guard (lower.hasPrefix("https://") || lower.hasPrefix("http://")), url.count > 8, !url.contains(" ") else {
                    throw r.error(m["webhook"]!, "\(field).webhook", "\"\(url)\" is not an http(s) URL")
                }
                channels.append(.init(webhook: url))
            }
        }
        let hardStop = try spec["hardStop"].map { n throws(PolicyDocumentError) in try r.bool(n, "spec.hardStop") } ?? false
        let humanArm = try spec["humanArm"].map { n throws(PolicyDocumentError) in try r.bool(n, "spec.humanArm") } ?? true
        return BudgetPolicy(name: name, spec: .init(
            scope: scope, ceiling: ceiling, period: period, thresholds: thresholds, alertChannels: channels,
            hardStop: hardStop, humanArm: humanArm
        ))
    }

    private static func readScope(_ node: Node, _ r: Reader) throws(PolicyDocumentError) -> BudgetPolicy.Scope {
        let m = try r.mapping(node, "spec.scope", required: ["clusterSelector"], optional: ["namespaceSelector", "podSelector"])
        let clusters = try readLabelSelector(m["clusterSelector"]!, "spec.scope.clusterSelector", r)
        var namespaces: NamespaceSelector?
        if let n = m["namespaceSelector"] {
            let field = "spec.scope.namespaceSelector"
            let s = try r.mapping(n, field, required: [], optional: ["matchNames", "matchLabels"])
            var names: [String] = []
            if let list = s["matchNames"] {
                for (i, item) in try r.sequence(list, "\(field).matchNames").enumerated() {
                    let name = try r.string(item, "\(field).matchNames[\(i)]")
                    try r.check(item, "\(field).matchNames[\(i)]") { () throws(ValidationError) in try KubernetesNames.validateDNSLabel(name, field: "") }
                    names.append(name)
                }
            }
            let labels = try s["matchLabels"].map { n throws(PolicyDocumentError) in try readLabels(n, "\(field).matchLabels", r) } ?? [:]
            namespaces = NamespaceSelector(matchNames: names, matchLabels: labels)
        }
        let pods = try m["podSelector"].map { n throws(PolicyDocumentError) in try readLabelSelector(n, "spec.scope.podSelector", r) }
        return BudgetPolicy.Scope(clusterSelector: clusters, namespaceSelector: namespaces, podSelector: pods)
    }

    private static func readLabelSelector(_ node: Node, _ field: String, _ r: Reader) throws(PolicyDocumentError) -> LabelSelector {
        let m = try r.mapping(node, field, required: [], optional: ["matchLabels", "matchExpressions"])
        let labels = try m["matchLabels"].map { n throws(PolicyDocumentError) in try readLabels(n, "\(field).matchLabels", r) } ?? [:]
        var expressions: [LabelSelector.Requirement] = []
        if let list = m["matchExpressions"] {
            for (i, item) in try r.sequence(list, "\(field).matchExpressions").enumerated() {
                let f = "\(field).matchExpressions[\(i)]"
                let e = try r.mapping(item, f, required: ["key", "operator"], optional: ["values"])
                let key = try r.string(e["key"]!, "\(f).key")
                let opText = try r.string(e["operator"]!, "\(f).operator")
                guard let op = LabelSelector.Operator(rawValue: opText) else {
                    throw r.error(e["operator"]!, "\(f).operator", "\"\(opText)\" is not one of In, NotIn, Exists, DoesNotExist")
                }
                var values: [String] = []
                if let v = e["values"] {
                    for (j, item) in try r.sequence(v, "\(f).values").enumerated() { values.append(try r.string(item, "\(f).values[\(j)]")) }
                }
                let requirement = LabelSelector.Requirement(key: key, operator: op, values: values)
                try r.check(item, f) { () throws(ValidationError) in try requirement.validate(field: "") }
                expressions.append(requirement)
            }
        }
        return LabelSelector(matchLabels: labels, matchExpressions: expressions)
    }

    private static func readLabels(_ node: Node, _ field: String, _ r: Reader) throws(PolicyDocumentError) -> [String: String] {
        guard let mapping = node.mapping else { throw r.error(node, field, "must be a mapping of label keys to values") }
        var out: [String: String] = [:]
        for (k, v) in mapping {
            let key = try r.string(k, field)
            let f = "\(field)[\(key)]"
            let value = try r.string(v, f)
            try r.check(k, f) { () throws(ValidationError) in
                try KubernetesNames.validateLabelKey(key, field: "")
                try KubernetesNames.validateLabelValue(value, field: "")
            }
            out[key] = value
        }
        return out
    }

    private static func readThresholds(_ node: Node, _ r: Reader) throws(PolicyDocumentError) -> [BudgetPolicy.Threshold] {
        var out: [BudgetPolicy.Threshold] = []
        for (i, item) in try r.sequence(node, "spec.thresholds").enumerated() {
            let f = "spec.thresholds[\(i)]"
            let m = try r.mapping(item, f, required: ["percent"], optional: ["basis"])
            guard let percent = m["percent"]!.int, m["percent"]!.tag.description == Tag.Name.int.rawValue, (1...1000).contains(percent) else {
                throw r.error(m["percent"]!, "\(f).percent", "\"\(m["percent"]!.string ?? "?")\" is not a whole percentage from 1 to 1000")
            }
            var basis = BudgetPolicy.Threshold.Basis.actual
            if let b = m["basis"] {
                let text = try r.string(b, "\(f).basis")
                guard let parsed = BudgetPolicy.Threshold.Basis(rawValue: text) else {
                    throw r.error(b, "\(f).basis", "\"\(text)\" is not one of actual, forecast")
                }
                basis = parsed
            }
            let t = BudgetPolicy.Threshold(percent: percent, basis: basis)
            if out.contains(t) { throw r.error(item, f, "\(t) is listed twice") }
            out.append(t)
        }
        if out.isEmpty { throw r.error(node, "spec.thresholds", "must list at least one threshold (or be left out for the defaults)") }
        return out.sorted()
    }
}

/// Typed access to YAML nodes that names line and field in every error.
private struct Reader {
    let source: String

    func error(_ node: Node, _ field: String, _ reason: String) -> PolicyDocumentError {
        PolicyDocumentError(source: source, line: node.mark?.line, field: field, reason: reason)
    }

    /// Runs a `ValidationError`-throwing check, re-throwing it located at `node` and `field`.
    @discardableResult
    func check<T>(_ node: Node, _ field: String, _ body: () throws(ValidationError) -> T) throws(PolicyDocumentError) -> T {
        do throws(ValidationError) {
            return try body()
        } catch {
            // The check may name a part of the field (`.values`, `.key`): keep it.
            let inner = error.field.isEmpty || error.field.hasPrefix(".") || error.field.hasPrefix("[") ? error.field : "." + error.field
            throw self.error(node, field + inner, error.reason)
        }
    }

    func mapping(_ node: Node, _ field: String, required: [String], optional: [String]) throws(PolicyDocumentError) -> [String: Node] {
        let path = field.isEmpty ? "document" : field
        guard let mapping = node.mapping else { throw error(node, field, "\(path) must be a mapping") }
        var out: [String: Node] = [:]
        let allowed = required + optional
        for (k, v) in mapping {
            guard let key = k.scalar?.string else { throw error(k, field, "keys must be strings") }
            let child = field.isEmpty ? key : "\(field).\(key)"
            guard allowed.contains(key) else {
                throw error(k, child, "unknown field; \(path) has \(allowed.joined(separator: ", "))")
            }
            out[key] = v
        }
        for key in required where out[key] == nil {
            throw error(node, field.isEmpty ? key : "\(field).\(key)", "required field is missing")
        }
        return out
    }

    func sequence(_ node: Node, _ field: String) throws(PolicyDocumentError) -> [Node] {
        guard let s = node.sequence else { throw error(node, field, "must be a list") }
        return Array(s)
    }

    func string(_ node: Node, _ field: String) throws(PolicyDocumentError) -> String {
        guard let scalar = node.scalar, node.tag.description == Tag.Name.str.rawValue else {
            throw error(node, field, node.scalar == nil ? "must be a string" : "must be a string; quote \(node.scalar!.string) to make it one")
        }
        return scalar.string
    }

    func bool(_ node: Node, _ field: String) throws(PolicyDocumentError) -> Bool {
        guard node.tag.description == Tag.Name.bool.rawValue, let b = node.bool else { throw error(node, field, "must be true or false") }
        return b
    }
}
