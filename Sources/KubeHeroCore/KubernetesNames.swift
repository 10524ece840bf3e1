/// Kubernetes naming rules, used for cluster names, label keys and label values.
///
/// The rules are the API server's own (`IsDNS1123Label`, `IsQualifiedName`, `IsValidLabelValue`
/// in k8s.io/apimachinery), so that a name KubeHero accepts is one Kubernetes accepts too.
public enum KubernetesNames {
    /// A DNS-1123 label: 1-63 characters, lowercase letters, digits and '-', starting and ending
    /// with a letter or digit. Cluster names follow this rule.
    public static func validateDNSLabel(_ value: String, field: String) throws(ValidationError) {
        if value.isEmpty { throw ValidationError(field: field, "must not be empty") }
        let bytes = Array(value.utf8)
        if bytes.count > 63 {
            throw ValidationError(field: field, "must be at most 63 characters, got \(bytes.count)")
        }
        for (i, b) in bytes.enumerated() {
            let ok = isLowerAlnum(b) || (b == UInt8(ascii: "-") && i != 0 && i != bytes.count - 1)
            if !ok {
                throw ValidationError(
                    field: field,
                    "\"\(value)\" is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit"
                )
            }
        }
    }

    /// A DNS-1123 subdomain: dot-separated labels, at most 253 characters (label key prefixes).
    public static func validateDNSSubdomain(_ value: String, field: String) throws(ValidationError) {
        if value.isEmpty { throw ValidationError(field: field, "must not be empty") }
        if value.utf8.count > 253 {
            throw ValidationError(field: field, "must be at most 253 characters, got \(value.utf8.count)")
        }
        for part in value.split(separator: ".", omittingEmptySubsequences: false) {
            do { try validateDNSLabel(String(part), field: field) } catch {
                throw ValidationError(field: field, "\"\(value)\" is not a valid DNS subdomain")
            }
        }
    }

    /// A label key: an optional DNS-subdomain prefix and '/', then a name of 1-63 characters of
    /// letters, digits, '-', '_' and '.', starting and ending with a letter or digit.
    public static func validateLabelKey(_ key: String, field: String) throws(ValidationError) {
        var name = Substring(key)
        if let slash = key.firstIndex(of: "/") {
            let prefix = String(key[..<slash])
            try validateDNSSubdomain(prefix, field: field)
            name = key[key.index(after: slash)...]
        }
        if name.isEmpty { throw ValidationError(field: field, "label key \"\(key)\" has an empty name") }
        if !isQualifiedNamePart(name) {
            throw ValidationError(
                field: field,
                "label key \"\(key)\" is not valid: at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
            )
        }
    }

    /// A label value: empty, or 1-63 characters of letters, digits, '-', '_' and '.', starting and
    /// ending with a letter or digit.
    public static func validateLabelValue(_ value: String, field: String) throws(ValidationError) {
        if value.isEmpty { return }
        if !isQualifiedNamePart(Substring(value)) {
            throw ValidationError(
                field: field,
                "label value \"\(value)\" is not valid: at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
            )
        }
    }

    /// Validates every key and value of a label set; `field` names the set (`labels`).
    public static func validateLabels(_ labels: [String: String], field: String) throws(ValidationError) {
        for key in labels.keys.sorted() {
            try validateLabelKey(key, field: "\(field)[\(key)]")
            try validateLabelValue(labels[key]!, field: "\(field)[\(key)]")
        }
    }

    /// Parses `key=value` as given on a command line or in a query.
    public static func parseLabel(_ text: String, field: String) throws(ValidationError) -> (key: String, value: String) {
        guard let eq = text.firstIndex(of: "=") else {
            throw ValidationError(field: field, "expected key=value, got \"\(text)\"")
        }
        let key = String(text[..<eq])
        let value = String(text[text.index(after: eq)...])
        try validateLabelKey(key, field: field)
        try validateLabelValue(value, field: field)
        return (key, value)
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }

    private static func isAlnum(_ b: UInt8) -> Bool {
        isLowerAlnum(b) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }

    private static func isQualifiedNamePart(_ s: Substring) -> Bool {
        let bytes = Array(s.utf8)
        guard !bytes.isEmpty, bytes.count <= 63, isAlnum(bytes.first!), isAlnum(bytes.last!) else { return false }
        return bytes.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }
}
