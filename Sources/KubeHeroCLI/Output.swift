import ArgumentParser
import Yams

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `-o table|json|yaml`.
public enum OutputFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    case table, json, yaml
}

/// Any API value as JSON or YAML, for scripts: keys sorted so that output is stable.
public enum StructuredOutput {
    /// Pretty-printed JSON with sorted keys, no trailing newline.
    public static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// YAML with sorted keys, no trailing newline.
    public static func yaml(_ value: some Encodable) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        var text = try encoder.encode(value)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// `json` or `yaml` of `value`; `table` renders with `table`.
    public static func render<Value: Encodable>(_ value: Value, as format: OutputFormat, table: (Value) -> String) throws -> String {
        switch format {
        case .table: table(value)
        case .json: try json(value)
        case .yaml: try yaml(value)
        }
    }
}

/// Columns of text, aligned like `kubectl get`: three spaces between columns, numbers
/// right-aligned, no trailing spaces.
///
/// ```swift
/// var t = TextTable(columns: [.init("NAME"), .init("TOTAL", alignment: .right)])
/// t.rows = [["default", "$1.50"], ["kube-system", "$12.00"]]
/// t.render()
/// // NAME             TOTAL
/// // default          $1.50
/// // kube-system     $12.00
/// ```
public struct TextTable: Sendable {
    public enum Alignment: Sendable { case left, right }

    public struct Column: Sendable {
        public var title: String
        public var alignment: Alignment
        public init(_ title: String, alignment: Alignment = .left) {
            self.title = title
            self.alignment = alignment
        }
    }

    public var columns: [Column]
    public var rows: [[String]]

    public init(columns: [Column], rows: [[String]] = []) {
        self.columns = columns
        self.rows = rows
    }

    public static let gap = "   "

    /// The header and the rows, lines separated by `\n`, no trailing newline.
    public func render() -> String {
        let lines = [columns.map(\.title)] + rows
        var widths = columns.map { _ in 0 }
        for line in lines {
            for (i, cell) in line.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        return lines.map { line in
            var text = ""
            for (i, column) in columns.enumerated() {
                let cell = i < line.count ? line[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                if i > 0 { text += Self.gap }
                text += column.alignment == .right ? pad + cell : cell + pad
            }
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }.joined(separator: "\n")
    }
}

/// Numbers as the tables show them.
public enum NumberText {
    /// `x` rounded to `decimals` places: `fixed(1.5, decimals: 2)` is `"1.50"`.
    public static func fixed(_ x: Double, decimals: Int) -> String {
        guard x.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(x) * scale).rounded()
        guard scaled < 9e18 else { return "\(x)" }
        let n = Int64(scaled)
        let unit = Int64(scale)
        var text = String(n / unit)
        if decimals > 0 {
            let frac = String(n % unit)
            text += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return (x < 0 && n != 0 ? "-" : "") + text
    }

    /// Core-hours, GiB-hours: two decimals, four below 1 so that small clusters do not read 0.
    public static func quantity(_ x: Double) -> String {
        if x == 0 { return "0" }
        return fixed(x, decimals: abs(x) < 1 ? 4 : 2)
    }

    /// `0.875` -> `87.5%`.
    public static func percent(_ ratio: Double) -> String {
        fixed(ratio * 100, decimals: 1) + "%"
    }

    /// Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB`.
    public static func bytes(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = abs(x)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let sign = x < 0 ? "-" : ""
        return sign + (unit == 0 ? fixed(value, decimals: 0) : fixed(value, decimals: 1)) + " " + units[unit]
    }
}
