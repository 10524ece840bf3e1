/// An amount of US dollars as an exact count of nano-dollars (1e-9 USD).
///
/// Storage and the wire carry the integer; only the edges (tables, JSON for people) format it.
/// Int64 nano-USD covers +/- 9.2 billion dollars, which no single stored row approaches.
///
/// ```swift
/// Money(nanoUSD: 1_234_500_000).formatted()   // "$1.2345"
/// ```
public struct Money: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var nanoUSD: Int64

    public init(nanoUSD: Int64) { self.nanoUSD = nanoUSD }

    public static let zero = Money(nanoUSD: 0)
    public static let nanosPerDollar: Int64 = 1_000_000_000

    /// Parses a decimal dollar amount such as `"0.0416"` or `"12"` exactly (no floating point).
    /// At most 9 decimal places; a leading '$' is allowed.
    public init?(decimalUSD text: String) {
        var s = Substring(text)
        if s.hasPrefix("$") { s = s.dropFirst() }
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty || parts.count == 2 else { return nil }
        guard whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber) else { return nil }
        var frac = parts.count == 2 ? parts[1] : ""
        guard frac.count <= 9, frac.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if whole.isEmpty && frac.isEmpty { return nil }
        frac += String(repeating: "0", count: 9 - frac.count)
        guard let w = Int64(whole.isEmpty ? "0" : whole), let f = Int64(frac) else { return nil }
        let (m, o1) = w.multipliedReportingOverflow(by: Money.nanosPerDollar)
        let (v, o2) = m.addingReportingOverflow(f)
        if o1 || o2 { return nil }
        self.nanoUSD = negative ? -v : v
    }

    public static func < (a: Money, b: Money) -> Bool { a.nanoUSD < b.nanoUSD }
    public static func + (a: Money, b: Money) -> Money { Money(nanoUSD: a.nanoUSD + b.nanoUSD) }
    public static func - (a: Money, b: Money) -> Money { Money(nanoUSD: a.nanoUSD - b.nanoUSD) }
    public static func += (a: inout Money, b: Money) { a.nanoUSD += b.nanoUSD }

    /// Dollars as a Double, for ratios and display only; never for sums.
    public var dollars: Double { Double(nanoUSD) / 1e9 }

    /// `$1.2345`: the exact decimal, trailing zeros trimmed to at least `minimumFractionDigits`.
    public func formatted(minimumFractionDigits: Int = 2) -> String {
        let negative = nanoUSD < 0
        let magnitude = nanoUSD.magnitude
        let whole = magnitude / UInt64(Money.nanosPerDollar)
        var frac = String(magnitude % UInt64(Money.nanosPerDollar))
        frac = String(repeating: "0", count: 9 - frac.count) + frac
        while frac.count > minimumFractionDigits, frac.hasSuffix("0") { frac.removeLast() }
        return (negative ? "-$" : "$") + String(whole) + (frac.isEmpty ? "" : "." + frac)
    }

    /// `"1.2345"`: the exact decimal in dollars, as used in JSON for people and scripts.
    public var decimalString: String {
        let s = formatted(minimumFractionDigits: 0)
        return s.replacingOccurrences(of: "$", with: "")
    }

    public var description: String { formatted() }
}

extension Int128 {
    /// `self * numerator / denominator`, rounded half away from zero, computed in 128 bits.
    @inlinable
    public static func scaled(_ value: Int128, by numerator: Int128, over denominator: Int128) -> Int128 {
        let product = value * numerator
        let q = product / denominator
        let r = product % denominator
        if r.magnitude * 2 >= denominator.magnitude {
            return product < 0 ? q - 1 : q + 1
        }
        return q
    }
}

private extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
