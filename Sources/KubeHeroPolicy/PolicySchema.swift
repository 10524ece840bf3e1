import KubeHeroCore

/// The one definition of the BudgetPolicy document's shape, rendered two ways: the JSON
/// Schema in `policies/budgetpolicy.schema.json` (strict: unknown fields refused, like the
/// parser) and the CRD in the Helm chart (a structural OpenAPI v3 schema: the API server
/// prunes unknown fields instead). `scripts/generate-policy-schema.sh` writes both files with
/// `kubehero policy schema`; `PolicySchemaTests` fails when a committed file differs.
public enum PolicySchema {
    /// An ordered JSON value, so that rendered files keep the definition's key order.
    public indirect enum Value: Hashable, Sendable {
        case string(String)
        case int(Int)
        case bool(Bool)
        case array([Value])
        case object([(String, Value)])

        public static func == (a: Value, b: Value) -> Bool { a.json() == b.json() }
        public func hash(into h: inout Hasher) { h.combine(json()) }
    }

    /// Where the schema is rendered for: the two flavours differ only where CRDs forbid
    /// something JSON Schema allows.
    enum Flavour { case jsonSchema, crd }

    public static let ceilingPattern = #"^\$[0-9]+(\.[0-9]{1,2})?/(hr|day|wk|mo|yr)$"#

    private static func str(_ description: String? = nil, pattern: String? = nil, enumeration: [String]? = nil, defaultValue: String? = nil) -> Value {
        var o: [(String, Value)] = [("type", .string("string"))]
        if let description { o.append(("description", .string(description))) }
        if let pattern { o.append(("pattern", .string(pattern))) }
        if let enumeration { o.append(("enum", .array(enumeration.map(Value.string)))) }
        if let defaultValue { o.append(("default", .string(defaultValue))) }
        return .object(o)
    }

    private static func object(_ f: Flavour, _ description: String? = nil, required: [String] = [], _ properties: [(String, Value)]) -> Value {
        var o: [(String, Value)] = [("type", .string("object"))]
        if let description { o.append(("description", .string(description))) }
        if !required.isEmpty { o.append(("required", .array(required.map(Value.string)))) }
        o.append(("properties", .object(properties)))
        if f == .jsonSchema { o.append(("additionalProperties", .bool(false))) }
        return .object(o)
    }

    private static func list(_ items: Value, minItems: Int? = nil) -> Value {
        var o: [(String, Value)] = [("type", .string("array")), ("items", items)]
        if let minItems { o.append(("minItems", .int(minItems))) }
        return .object(o)
    }

    private static let labelMap: Value = .object([("type", .string("object")), ("additionalProperties", .object([("type", .string("string"))]))])

    private static func labelSelector(_ f: Flavour, _ description: String) -> Value {
        object(f, description, [
            ("matchLabels", labelMap),
            ("matchExpressions", list(object(f, required: ["key", "operator"], [
                ("key", str()),
                ("operator", str(enumeration: LabelSelector.Operator.allCases.map(\.rawValue))),
                ("values", list(str())),
            ]))),
        ])
    }

    static func spec(_ f: Flavour) -> Value {
        object(f, required: ["scope", "ceiling"], [
            ("scope", object(f, "What the ceiling covers: every matching pod of every matching namespace of every matching cluster.", required: ["clusterSelector"], [
                ("clusterSelector", labelSelector(f, "Clusters by the labels given at `kubehero cluster add --label`; {} matches every cluster.")),
                ("namespaceSelector", object(f, "Namespaces by name and/or label; absent: every namespace.", [
                    ("matchNames", list(str())),
                    ("matchLabels", labelMap),
                ])),
                ("podSelector", labelSelector(f, "Pods by label; absent: every pod.")),
            ])),
            ("ceiling", str(#"Dollars per period, cents allowed: "$500000/mo", "$12.50/day" (hr, day, wk, mo, yr)."#, pattern: ceilingPattern)),
            ("period", str("calendar: the current UTC hour, day, ISO week, month or year; rolling: the last hour, 24 h, 7 d, 30 d or 365 d.", enumeration: BudgetPolicy.PeriodKind.allCases.map(\.rawValue), defaultValue: "calendar")),
            ("thresholds", .object([
                ("type", .string("array")),
                ("description", .string("Alert when spend (actual) or the forecast for the period's end (forecast) reaches a percentage of the ceiling; default 50, 80, 100 actual and 100 forecast.")),
                ("items", object(f, required: ["percent"], [
                    ("percent", .object([("type", .string("integer")), ("minimum", .int(1)), ("maximum", .int(1000))])),
                    ("basis", str(enumeration: BudgetPolicy.Threshold.Basis.allCases.map(\.rawValue), defaultValue: "actual")),
                ])),
                ("minItems", .int(1)),
            ])),
            ("alertChannels", list(object(f, required: ["webhook"], [
                ("webhook", str("An http(s) URL that gets a JSON POST per event, with a Slack-compatible text field.", pattern: "^https?://")),
            ]))),
            ("hardStop", .object([("type", .string("boolean")), ("description", .string("Deny new pods in the scope while the ceiling is breached.")), ("default", .bool(false))])),
            ("humanArm", .object([("type", .string("boolean")), ("description", .string("Enforce only once armed with `kubehero policy arm`.")), ("default", .bool(true))])),
        ])
    }

    /// The JSON Schema (draft 2020-12) of a whole document.
    public static var jsonSchema: Value {
        .object([
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("$id", .string("https://kubehero.io/schemas/budgetpolicy.schema.json")),
            ("title", .string("BudgetPolicy")),
            ("description", .string("Generated from Sources/KubeHeroPolicy/PolicySchema.swift by scripts/generate-policy-schema.sh; do not edit.")),
            ("type", .string("object")),
            ("required", .array(["apiVersion", "kind", "metadata", "spec"].map(Value.string))),
            ("properties", .object([
                ("apiVersion", .object([("const", .string(BudgetPolicy.apiVersion))])),
                ("kind", .object([("const", .string(BudgetPolicy.kind))])),
                ("metadata", .object([
                    ("type", .string("object")),
                    ("required", .array([.string("name")])),
                    ("properties", .object([
                        ("name", .object([
                            ("type", .string("string")), ("pattern", .string("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")), ("maxLength", .int(63)),
                        ])),
                    ])),
                ])),
                ("spec", spec(.jsonSchema)),
                ("status", .object([("type", .string("object"))])),
            ])),
            ("additionalProperties", .bool(false)),
        ])
    }

    /// The Helm chart's CRD template (`templates/crd-budgetpolicy.yaml`).
    public static var crdTemplate: String {
        let schema: Value = .object([
            ("type", .string("object")),
            ("required", .array([.string("spec")])),
            ("properties", .object([
                ("apiVersion", .object([("type", .string("string"))])),
                ("kind", .object([("type", .string("string"))])),
                ("metadata", .object([("type", .string("object"))])),
                ("spec", spec(.crd)),
                ("status", .object([("type", .string("object")), ("x-kubernetes-preserve-unknown-fields", .bool(true))])),
            ])),
        ])
        return """
            {{- if .Values.crds.install }}
            # Generated from Sources/KubeHeroPolicy/PolicySchema.swift by scripts/generate-policy-schema.sh
            # (the same definition as policies/budgetpolicy.schema.json); do not edit. Kept on
            # uninstall: deleting a CRD deletes every BudgetPolicy.
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata:
              name: budgetpolicies.kubehero.kubehero.io
              labels:
                {{- include "kubehero.labels" (dict "root" $ "component" "crd") | nindent 4 }}
              {{- include "kubehero.annotations" (dict "root" $ "extra" (dict "helm.sh/resource-policy" "keep")) | nindent 2 }}
            spec:
              group: kubehero.kubehero.io
              scope: Cluster
              names:
                kind: BudgetPolicy
                listKind: BudgetPolicyList
                plural: budgetpolicies
                singular: budgetpolicy
                shortNames: [bp]
                categories: [kubehero]
              versions:
                - name: v1
                  served: true
                  storage: true
                  subresources:
                    status: {}
                  additionalPrinterColumns:
                    - name: Ceiling
                      type: string
                      jsonPath: .spec.ceiling
                    - name: HardStop
                      type: boolean
                      jsonPath: .spec.hardStop
                    - name: State
                      type: string
                      jsonPath: .status.state
                    - name: Age
                      type: date
                      jsonPath: .metadata.creationTimestamp
                  schema:
                    openAPIV3Schema:
            \(schema.yaml(indent: 10))
            {{- end }}

            """
    }
}

extension PolicySchema.Value {
    /// Pretty JSON, two-space indent, keys in definition order.
    public func json(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent + 2)
        let end = String(repeating: " ", count: indent)
        switch self {
        case .string(let s): return JSONText.quoted(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .array(let items):
            if items.allSatisfy({ if case .string = $0 { true } else { false } }) {
                return "[" + items.map { $0.json() }.joined(separator: ", ") + "]"
            }
            let members: [String] = items.map { pad + $0.json(indent: indent + 2) }
            return "[\n" + members.joined(separator: ",\n") + "\n" + end + "]"
        case .object(let pairs):
            if pairs.isEmpty { return "{}" }
            let members: [String] = pairs.map { key, value in
                let rendered: String = value.json(indent: indent + 2)
                return pad + JSONText.quoted(key) + ": " + rendered
            }
            return "{\n" + members.joined(separator: ",\n") + "\n" + end + "}"
        }
    }

    /// Block YAML at `indent` spaces; strings are always JSON-quoted (valid YAML).
    func yaml(indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        guard case .object(let pairs) = self else { return pad + json() }
        var lines: [String] = []
        for (key, value) in pairs {
            switch value {
            case .object(let inner) where !inner.isEmpty:
                lines.append(pad + key + ":")
                lines.append(value.yaml(indent: indent + 2))
            case .array(let items) where items.contains(where: \.isObject):
                lines.append(pad + key + ":")
                for item in items {
                    // "- " takes the place of the item's first two columns of indent.
                    let body: String = item.yaml(indent: indent + 4)
                    lines.append(pad + "  - " + String(body.dropFirst(indent + 4)))
                }
            default:
                lines.append(pad + key + ": " + value.json())
            }
        }
        return lines.joined(separator: "\n")
    }

    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

}
