/// Labels as stored in `labels_json` columns: a JSON object of strings, keys sorted so that
/// equal label sets are equal text. SQLite's JSON functions read it (`label:KEY` grouping).
enum LabelsJSON {
    static func encode(_ labels: [String: String]) -> String {
        if labels.isEmpty { return "{}" }
        var out = "{"
        for (i, label) in labels.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out += "," }
            appendString(label.key, to: &out)
            out += ":"
            appendString(label.value, to: &out)
        }
        out += "}"
        return out
    }

    /// Parses with SQLite's own JSON reader (`json_each`), so no second JSON parser is needed.
    static func decode(_ json: String, with db: SQLiteConnection) throws -> [String: String] {
        if json == "{}" { return [:] }
        var labels: [String: String] = [:]
        for (key, value) in try db.query("SELECT key, value FROM json_each(?1)", [.text(json)], { ($0.text(at: 0), $0.text(at: 1)) }) {
            labels[key] = value
        }
        return labels
    }

    private static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
