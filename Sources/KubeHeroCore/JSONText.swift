/// JSON string literals for code that writes JSON by hand (fixed shapes, no encoder).
public enum JSONText {
    /// `text` as a JSON string literal, quotes included: quotes, backslashes and control
    /// characters escaped.
    ///
    /// ```swift
    /// JSONText.quoted("a \"b\"")   // "\"a \\\"b\\\"\""
    /// ```
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
