import KubeHeroCore

/// A Kubernetes resource quantity as written in a pod spec: `500m`, `2`, `0.5`, `128Mi`, `1G`,
/// `1e9`. Kept as text until converted, so that a bad one can be reported with the pod,
/// container and field it came from.
///
/// Conversions follow k8s.io/apimachinery's `resource.Quantity` exactly: binary suffixes
/// (`Ki` ... `Ei`), decimal suffixes (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) and decimal
/// exponents (`e3`, `E-2`), and a fractional result is rounded up, as `Value()` and
/// `MilliValue()` do.
///
/// ```swift
/// try KubernetesQuantity("0.5").millicores()   // 500
/// try KubernetesQuantity("1.5Gi").bytes()      // 1_610_612_736
/// ```
public struct KubernetesQuantity: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The quantity as written.
    public var text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral value: String) { self.text = value }

    public var description: String { text }

    /// The quantity in thousandths (CPU: millicores), rounded up.
    public func millicores() throws(ValidationError) -> UInt32 {
        try narrow(parse().scaled(byPowerOf10: 3), to: UInt32.self, unit: "millicores")
    }

    /// The quantity as a whole number (memory: bytes), rounded up.
    public func bytes() throws(ValidationError) -> UInt64 {
        try narrow(parse().scaled(byPowerOf10: 0), to: UInt64.self, unit: "bytes")
    }

    /// The quantity as a whole count (GPUs and other extended resources), rounded up.
    public func count() throws(ValidationError) -> UInt32 {
        try narrow(parse().scaled(byPowerOf10: 0), to: UInt32.self, unit: "units")
    }

    private func narrow<T: FixedWidthInteger>(_ value: UInt128?, to: T.Type, unit: String) throws(ValidationError) -> T {
        guard let value, value <= UInt128(T.max) else {
            throw ValidationError(field: "", "\"\(text)\" is too large (more than \(T.max) \(unit))")
        }
        return T(value)
    }

    /// `mantissa x 10^exponent10 x 2^exponent2`, exactly as written.
    struct Parsed {
        var mantissa: UInt128
        var exponent10: Int
        var exponent2: Int

        /// The value times 10^`power`, rounded up; nil when it does not fit in 128 bits.
        func scaled(byPowerOf10 power: Int) -> UInt128? {
            var value = mantissa
            if value == 0 { return 0 }
            for _ in 0..<exponent2 {
                let (doubled, overflow) = value.multipliedReportingOverflow(by: 2)
                if overflow { return nil }
                value = doubled
            }
            let exponent = exponent10 + power
            if exponent > 0 {
                for _ in 0..<exponent {
                    let (next, overflow) = value.multipliedReportingOverflow(by: 10)
                    if overflow { return nil }
                    value = next
                }
            } else if exponent < 0 {
                var remainder = false
                for _ in 0..<(-exponent) where value != 0 {
                    if value % 10 != 0 { remainder = true }
                    value /= 10
                }
                if remainder { value += 1 }
            }
            return value
        }
    }

    private static let decimalSuffixes: [String: Int] = [
        "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
    ]
    private static let binarySuffixes: [String: Int] = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]
    /// Beyond this a decimal exponent cannot give a value any field here holds.
    private static let maxExponent = 1_000

    /// Parses `<sign><digits>[.<digits>]<suffix>` (the grammar of `resource.ParseQuantity`).
    func parse() throws(ValidationError) -> Parsed {
        let bytes = Array(text.utf8)
        func fail(_ why: String) -> ValidationError {
            ValidationError(field: "", "\"\(text)\" is not a Kubernetes quantity: \(why)")
        }
        if bytes.isEmpty { throw ValidationError(field: "", "is empty; expected a quantity such as 500m, 2, 128Mi or 1G") }
        var i = 0
        var negative = false
        if bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var mantissa: UInt128 = 0
        var exponent10 = 0
        var digitCount = 0
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        func append(_ b: UInt8) -> Bool {
            let (times10, o1) = mantissa.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt128(b - UInt8(ascii: "0")))
            mantissa = sum
            return !(o1 || o2)
        }
        while i < bytes.count, isDigit(bytes[i]) {
            if !append(bytes[i]) { throw fail("it has too many digits") }
            digitCount += 1
            i += 1
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            // Trailing zeros of the fraction change nothing and would only cost digits.
            var end = i
            while end > start, bytes[end - 1] == UInt8(ascii: "0") { end -= 1 }
            for b in bytes[start..<end] {
                if !append(b) { throw fail("it has too many digits") }
                exponent10 -= 1
            }
            digitCount += i - start
        }
        if digitCount == 0 { throw fail("it does not start with a number") }

        let suffix = String(decoding: bytes[i...], as: UTF8.self)
        var exponent2 = 0
        if let power = Self.decimalSuffixes[suffix] {
            exponent10 += power
        } else if let power = Self.binarySuffixes[suffix] {
            exponent2 = power
        } else if suffix.utf8.count > 1, suffix.first == "e" || suffix.first == "E" {
            guard let power = Int(suffix.dropFirst()), abs(power) <= Self.maxExponent else {
                throw fail("\"\(suffix)\" is not a valid exponent (use e.g. e3 or e-3)")
            }
            exponent10 += power
        } else {
            throw fail("unknown suffix \"\(suffix)\" (use Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E or an exponent such as e9)")
        }
        if negative && mantissa != 0 { throw ValidationError(field: "", "\"\(text)\" is negative") }
        return Parsed(mantissa: mantissa, exponent10: exponent10, exponent2: exponent2)
    }
}

extension KubernetesQuantity: Decodable {
    /// A quantity is a JSON string; a bare JSON number is accepted too, as the API server does.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
        } else if let integer = try? container.decode(Int64.self) {
            self.text = String(integer)
        } else {
            self.text = String(try container.decode(Double.self))
        }
    }
}
