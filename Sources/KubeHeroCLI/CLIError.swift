import KubeHeroCore
import KubeHeroPKI

/// A failure of the CLI itself (a file it cannot write, a config it cannot read), as one
/// sentence a user can act on.
///
/// Failures from elsewhere keep their own types (`ValidationError` for bad flags and config
/// values, ``HubError`` for the hub, `PKIError` for certificates); ``ErrorLine`` prints them all.
public struct CLIError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The one line the CLI prints for a failure: `error: <reason>`.
///
/// ```swift
/// ErrorLine.render(ValidationError(field: "--label", "expected key=value, got \"team\""))
/// // error: --label: expected key=value, got "team"
/// ```
public enum ErrorLine {
    public static func render(_ error: any Error) -> String {
        "error: " + oneLine(reason(error))
    }

    /// The reason without the `error: ` prefix.
    public static func reason(_ error: any Error) -> String {
        switch error {
        case let error as CLIError: error.message
        case let error as ValidationError: error.description
        case let error as HubError: error.description
        case let error as PKIError: error.description
        default: String(describing: error)
        }
    }

    /// Newlines and runs of whitespace become one space, so that a reason is one line however
    /// it was built (a hub message, a YAML parser's snippet).
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: { $0.isNewline || $0 == "\t" })
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
