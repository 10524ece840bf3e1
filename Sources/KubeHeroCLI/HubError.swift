import KubeHeroCore

/// A request to the hub that failed: the hub answered with an error, answered something the
/// CLI cannot read, or could not be reached. ``description`` is the reason a user reads.
///
/// ```swift
/// // cluster "prod" already exists (field name)
/// // cannot reach hub at https://127.0.0.1:8443: connection refused
/// ```
public struct HubError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case api, unexpectedResponse, unreachable, tls, timeout, configuration
        }

        let base: Base
        private init(_ base: Base) { self.base = base }

        /// The hub answered with an error body (`APIErrorBody`).
        public static let api = Self(.api)
        /// The hub answered, but not with what the API promises (not JSON, too large, ...).
        public static let unexpectedResponse = Self(.unexpectedResponse)
        /// No connection: refused, unknown host, network unreachable.
        public static let unreachable = Self(.unreachable)
        /// The TLS handshake failed: usually the CA to trust (`--ca-file`).
        public static let tls = Self(.tls)
        /// Connecting or waiting for the answer took too long.
        public static let timeout = Self(.timeout)
        /// The client could not be set up (a CA file that cannot be read).
        public static let configuration = Self(.configuration)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The HTTP status, when the hub answered.
    public var status: Int?
    /// The hub's error body, when it sent one.
    public var detail: APIErrorBody.Detail?
    /// The whole reason, one line.
    public var message: String

    public init(_ code: Code, status: Int? = nil, detail: APIErrorBody.Detail? = nil, _ message: String) {
        self.code = code
        self.status = status
        self.detail = detail
        self.message = message
    }

    /// An error answer of the hub. The message is the hub's own; the field is added when the
    /// message does not already start with it (the hub's validation messages do).
    ///
    /// ```swift
    /// HubError(status: 409, body: APIErrorBody(error: .init(code: "conflict", message: "cluster \"a\" already exists", field: "name")))
    /// // name: cluster "a" already exists
    /// ```
    public init(status: Int, body: APIErrorBody, hint: String? = nil) {
        let d = body.error
        var message = d.message.isEmpty ? "the hub answered \(status) (\(d.code))" : d.message
        if let field = d.field, !field.isEmpty, !message.hasPrefix(field + ":") {
            message = "\(field): \(message)"
        }
        if let hint { message += " (\(hint))" }
        self.init(.api, status: status, detail: d, message)
    }

    public var description: String { message }
}
