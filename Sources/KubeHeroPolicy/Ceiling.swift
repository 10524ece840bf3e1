import KubeHeroCore

/// The length of a budget period, as the ceiling names it (`/hr`, `/day`, `/wk`, `/mo`, `/yr`).
public enum PeriodUnit: String, Hashable, Sendable, Codable, CaseIterable {
    case hour = "hr"
    case day
    case week = "wk"
    case month = "mo"
    case year = "yr"

    /// The length of a rolling period of this unit (a month is 30 days, a year 365).
    public var rollingMillis: Int64 {
        switch self {
        case .hour: 3_600_000
        case .day: 86_400_000
        case .week: 7 * 86_400_000
        case .month: 30 * 86_400_000
        case .year: 365 * 86_400_000
        }
    }
}

/// A spending ceiling: US dollars (cents allowed) per period unit, written `$500000/mo`.
///
/// ```swift
/// let c = try Ceiling(parsing: "$12.50/day")   // 12.5 dollars per day
/// c.description                                 // "$12.50/day"
/// ```
public struct Ceiling: Hashable, Sendable, Codable, CustomStringConvertible {
    public var amount: Money
    public var unit: PeriodUnit

    public init(amount: Money, unit: PeriodUnit) {
        self.amount = amount
        self.unit = unit
    }

    static let format = "write dollars, optionally with cents, and a period: \"$500000/mo\", \"$12.50/day\" (periods: hr, day, wk, mo, yr)"

    /// Parses `$AMOUNT/UNIT`; throws naming `field` and saying what was wrong.
    public init(parsing text: String, field: String = "spec.ceiling") throws(ValidationError) {
        let trimmed = text.trimmingCharacters(in: " ")
        if trimmed.hasPrefix("-") || trimmed.hasPrefix("$-") {
            throw ValidationError(field: field, "\"\(text)\" is negative: a ceiling is a positive amount")
        }
        guard trimmed.hasPrefix("$") else {
            throw ValidationError(field: field, "\"\(text)\" is not a ceiling: \(Self.format)")
        }
        let parts = trimmed.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ValidationError(field: field, "\"\(text)\" has no period: \(Self.format)")
        }
        guard let unit = PeriodUnit(rawValue: String(parts[1])) else {
            throw ValidationError(field: field, "\"\(text)\" has an unknown period \"\(parts[1])\": use one of hr, day, wk, mo, yr")
        }
        let number = parts[0]
        let pieces = number.split(separator: ".", omittingEmptySubsequences: false)
        let digitsOnly = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        guard pieces.count <= 2, digitsOnly(pieces[0]), pieces.count == 1 || (digitsOnly(pieces[1]) && pieces[1].count <= 2) else {
            throw ValidationError(field: field, "\"\(text)\": \"\(number)\" is not an amount in dollars (no suffixes such as k or M, at most two decimals): \(Self.format)")
        }
        guard let amount = Money(decimalUSD: String(number)) else {
            throw ValidationError(field: field, "\"\(text)\" is too large")
        }
        guard amount.nanoUSD > 0 else {
            throw ValidationError(field: field, "\"\(text)\" is zero: a ceiling is a positive amount")
        }
        self.init(amount: amount, unit: unit)
    }

    /// `$500000/mo`, `$12.50/day`: whole dollars without cents, else two decimals.
    public var description: String {
        let cents = amount.nanoUSD % Money.nanosPerDollar
        return amount.formatted(minimumFractionDigits: cents == 0 ? 0 : 2) + "/" + unit.rawValue
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do throws(ValidationError) {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.reason))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
