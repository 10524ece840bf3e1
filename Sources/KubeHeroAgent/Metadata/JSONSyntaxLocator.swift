/// Finds where a byte string stops being JSON, and the JSON path it was in at that point.
///
/// `JSONDecoder` only says "not valid JSON"; a kubelet answer cut off by a dropped connection
/// or a proxy's error page deserves to be told apart: `the answer ends after 5200 bytes, inside
/// items[0].status.conditions[4]`. Only called once decoding has failed, so it can be simple
/// rather than fast; nesting is bounded so that hostile input cannot exhaust the stack.
enum JSONSyntaxLocator {
    struct Failure: Equatable {
        /// Byte offset of the offending byte, or the length when the input ended early.
        var offset: Int
        var line: Int
        var column: Int
        /// JSONPath-like location: `items[0].status`, or empty at the top level.
        var path: String
        /// The input ended inside a value.
        var endOfInput: Bool
        /// Nesting went past the limit at `offset`.
        var tooDeep: Bool = false

        /// E.g. `the answer ends after 5200 bytes, inside items[0].status (truncated?)`.
        var description: String {
            let inside = path.isEmpty ? "" : ", inside \(path)"
            if endOfInput { return "the answer ends after \(offset) bytes\(inside) (truncated?)" }
            if tooDeep { return "nested too deeply at line \(line), column \(column)\(inside)" }
            return "unexpected character at line \(line), column \(column)\(inside)"
        }
    }

    static let maxDepth = 256

    /// The first syntax error in `bytes`, or nil when the scanner finds none.
    static func firstError(in bytes: some Collection<UInt8>) -> Failure? {
        var scanner = Scanner(bytes: Array(bytes))
        do {
            try scanner.value(depth: 0)
            scanner.skipWhitespace()
            if scanner.i < scanner.bytes.count { throw Stop.unexpected }
            return nil
        } catch {
            return scanner.failure(error)
        }
    }

    private enum Stop: Error { case unexpected, end, tooDeep }

    private enum Component {
        case key(String)
        case index(Int)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var i = 0
        var path: [Component] = []

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        mutating func peek() throws(Stop) -> UInt8 {
            skipWhitespace()
            guard i < bytes.count else { throw .end }
            return bytes[i]
        }

        mutating func expect(_ byte: UInt8) throws(Stop) {
            guard try peek() == byte else { throw .unexpected }
            i += 1
        }

        mutating func value(depth: Int) throws(Stop) {
            if depth > JSONSyntaxLocator.maxDepth { throw .tooDeep }
            switch try peek() {
            case UInt8(ascii: "{"):
                i += 1
                if try peek() == UInt8(ascii: "}") { i += 1; return }
                while true {
                    guard try peek() == UInt8(ascii: "\"") else { throw .unexpected }
                    let key = try string()
                    try expect(UInt8(ascii: ":"))
                    path.append(.key(key))
                    try value(depth: depth + 1)
                    path.removeLast()
                    switch try peek() {
                    case UInt8(ascii: ","): i += 1
                    case UInt8(ascii: "}"): i += 1; return
                    default: throw .unexpected
                    }
                }
            case UInt8(ascii: "["):
                i += 1
                if try peek() == UInt8(ascii: "]") { i += 1; return }
                var index = 0
                while true {
                    path.append(.index(index))
                    try value(depth: depth + 1)
                    path.removeLast()
                    switch try peek() {
                    case UInt8(ascii: ","): i += 1; index += 1
                    case UInt8(ascii: "]"): i += 1; return
                    default: throw .unexpected
                    }
                }
            case UInt8(ascii: "\""):
                _ = try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                while i < bytes.count, Self.isNumberByte(bytes[i]) { i += 1 }
            default:
                throw .unexpected
            }
        }

        /// A string starting at the opening quote; returns its raw contents.
        mutating func string() throws(Stop) -> String {
            i += 1
            let start = i
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    defer { i += 1 }
                    return String(decoding: bytes[start..<i], as: UTF8.self)
                case UInt8(ascii: "\\"): i += 2
                case 0..<0x20: throw .unexpected
                default: i += 1
                }
            }
            i = bytes.count
            throw .end
        }

        mutating func literal(_ word: String) throws(Stop) {
            for byte in word.utf8 {
                guard i < bytes.count else { throw .end }
                guard bytes[i] == byte else { throw .unexpected }
                i += 1
            }
        }

        static func isNumberByte(_ b: UInt8) -> Bool {
            (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+")
                || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        }

        func failure(_ stop: any Error) -> Failure {
            let offset = min(i, bytes.count)
            var line = 1
            var lineStart = 0
            for (index, byte) in bytes[..<offset].enumerated() where byte == 0x0A {
                line += 1
                lineStart = index + 1
            }
            var rendered = ""
            for component in path {
                switch component {
                case let .key(key): rendered += rendered.isEmpty ? key : "." + key
                case let .index(index): rendered += "[\(index)]"
                }
            }
            return Failure(
                offset: offset, line: line, column: offset - lineStart + 1, path: rendered,
                endOfInput: (stop as? Stop) == .end, tooDeep: (stop as? Stop) == .tooDeep
            )
        }
    }
}
