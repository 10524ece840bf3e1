/// The JSON values an audit entry may hold. Numbers are integers only, so that every value
/// has exactly one encoding (no float formatting questions) and entries hash reproducibly.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// Canonical JSON: no insignificant whitespace, object keys sorted by their UTF-8 bytes, strings
/// escaped minimally (only `"`, `\` and control characters), integers in plain decimal. Two
/// equal values always encode to the same bytes, which is what the Merkle tree hashes.
public enum CanonicalJSON {
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        encode(value, into: &out)
        return out
    }

    public static func encode(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let i): out += Array(String(i).utf8)
        case .string(let s): encodeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (n, v) in a.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                encode(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            let keys = o.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (n, k) in keys.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                encodeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                encode(o[k]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func encodeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Where and why bytes are not canonical JSON.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "byte \(offset): \(reason)" }
    }

    /// Parses JSON (any whitespace) into a value. Floats, duplicate keys, nesting deeper than
    /// 32 and invalid UTF-8 are errors. Use `parseCanonical` to also demand canonical form.
    public static func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> JSONValue {
        let buffer = Array(bytes)
        var parser = Parser(b: buffer)
        parser.skipSpace()
        let v = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.i == buffer.count else { throw ParseError(offset: parser.i, reason: "unexpected bytes after the value") }
        return v
    }

    /// Parses and checks that the bytes are exactly the canonical encoding of the value.
    public static func parseCanonical(_ bytes: [UInt8]) throws(ParseError) -> JSONValue {
        let v = try parse(bytes)
        let again = encode(v)
        guard again == bytes else {
            let at = zip(again, bytes).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(again.count, bytes.count)
            throw ParseError(offset: at, reason: "not canonical JSON (keys sorted, no whitespace, minimal escapes)")
        }
        return v
    }

    /// The integer value of `key` in a top-level JSON object, checking that the whole input is
    /// well-formed JSON but building nothing (for verifying many entries fast); nil if the input
    /// is not a JSON object, or `key` is missing or not an integer.
    public static func topLevelInteger(_ key: String, in bytes: [UInt8]) -> Int64? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(b: buffer)
            return scanner.topLevel(key: Array(key.utf8))
        }
    }

    /// A non-allocating JSON syntax check (strings are not checked for valid UTF-8).
    struct Scanner {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func space() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func topLevel(key: [UInt8]) -> Int64? {
            space()
            guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            var found: Int64?
            space()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; space(); return nil }
            while true {
                space()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
                let keyStart = i + 1
                guard string() else { return nil }
                let isKey = i - 1 - keyStart == key.count && key.withUnsafeBufferPointer { k in
                    (0..<k.count).allSatisfy { b[keyStart + $0] == k[$0] }
                }
                space()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                space()
                if isKey {
                    guard found == nil, let v = integer() else { return nil }
                    found = v
                } else {
                    guard value(depth: 1) else { return nil }
                }
                space()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: "}") { i += 1; break }
                guard b[i] == UInt8(ascii: ",") else { return nil }
                i += 1
            }
            space()
            return i == b.count ? found : nil
        }

        mutating func string() -> Bool {
            i += 1
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return true }
                if c < 0x20 { return false }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < b.count else { return false }
                    if b[i] == UInt8(ascii: "u") {
                        guard i + 4 < b.count, (1...4).allSatisfy({ hexNibble(b[i + $0]) != nil }) else { return false }
                        i += 4
                    } else if !"\"\\/bfnrt".utf8.contains(b[i]) {
                        return false
                    }
                }
                i += 1
            }
            return false
        }

        mutating func integer() -> Int64? {
            var negative = false
            if i < b.count, b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            var v: Int64 = 0
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int64(b[i] - 0x30))
                guard !o1, !o2 else { return nil }
                v = a
                i += 1
            }
            guard i > start else { return nil }
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { return nil }
            return negative ? -v : v
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard i + n <= b.count else { return false }
            for k in 0..<n where b[i + k] != word.utf8Start[k] { return false }
            i += n
            return true
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < 32, i < b.count else { return false }
            switch b[i] {
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "n"): return literal("null")
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "-"), 0x30...0x39: return integer() != nil
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                let object = b[i] == UInt8(ascii: "{")
                let close = object ? UInt8(ascii: "}") : UInt8(ascii: "]")
                i += 1
                space()
                if i < b.count, b[i] == close { i += 1; return true }
                while true {
                    space()
                    if object {
                        guard i < b.count, b[i] == UInt8(ascii: "\""), string() else { return false }
                        space()
                        guard i < b.count, b[i] == UInt8(ascii: ":") else { return false }
                        i += 1
                        space()
                    }
                    guard value(depth: depth + 1) else { return false }
                    space()
                    guard i < b.count else { return false }
                    if b[i] == close { i += 1; return true }
                    guard b[i] == UInt8(ascii: ",") else { return false }
                    i += 1
                }
            default:
                return false
            }
        }
    }

    struct Parser {
        let b: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        func fail(_ reason: String) -> ParseError { ParseError(offset: i, reason: reason) }

        mutating func literal(_ word: String, _ v: JSONValue) throws(ParseError) -> JSONValue {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw fail("expected \(word)") }
            i += w.count
            return v
        }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard depth < 32 else { throw fail("nested deeper than 32") }
            guard i < b.count else { throw fail("unexpected end of input") }
            switch b[i] {
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < b.count else { throw fail("unterminated array") }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    guard b[i] == UInt8(ascii: ",") else { throw fail("expected , or ] in array") }
                    i += 1
                }
            case UInt8(ascii: "{"):
                i += 1
                var members: [String: JSONValue] = [:]
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let keyAt = i
                    let key = try string()
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected : after key") }
                    i += 1
                    skipSpace()
                    let v = try value(depth: depth + 1)
                    guard members.updateValue(v, forKey: key) == nil else {
                        throw ParseError(offset: keyAt, reason: "duplicate key \"\(key)\"")
                    }
                    skipSpace()
                    guard i < b.count else { throw fail("unterminated object") }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    guard b[i] == UInt8(ascii: ",") else { throw fail("expected , or } in object") }
                    i += 1
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .int(try integer())
            default:
                throw fail("unexpected byte 0x\(String(b[i], radix: 16))")
            }
        }

        mutating func integer() throws(ParseError) -> Int64 {
            let start = i
            if b[i] == UInt8(ascii: "-") { i += 1 }
            let digitsStart = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            guard i > digitsStart else { throw fail("expected digits") }
            if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                throw fail("only integers are allowed")
            }
            guard let v = Int64(String(decoding: b[start..<i], as: UTF8.self)) else {
                throw ParseError(offset: start, reason: "integer out of range")
            }
            return v
        }

        mutating func string() throws(ParseError) -> String {
            i += 1
            var out: [UInt8] = []
            let start = i
            // Fast path: no escapes.
            while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\"), b[i] >= 0x20 { i += 1 }
            out.append(contentsOf: b[start..<i])
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                guard c >= 0x20 else { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                switch b[i] {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard i + 4 < b.count, let u = UInt32(String(decoding: b[i + 1...i + 4], as: UTF8.self), radix: 16) else {
                        throw fail("bad \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(u) else { throw fail("\\u escape of a surrogate is not supported") }
                    out += Array(String(Character(scalar)).utf8)
                    i += 4
                default: throw fail("bad escape")
                }
                i += 1
            }
            guard let s = String(validating: out, as: UTF8.self) else {
                throw ParseError(offset: start, reason: "string is not valid UTF-8")
            }
            return s
        }
    }
}

extension JSONValue: Encodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .int(let i):
            var c = encoder.singleValueContainer()
            try c.encode(i)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for v in a { try c.encode(v) }
        case .object(let o):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in o { try c.encode(v, forKey: Key(stringValue: k)) }
        }
    }
}
