/// Why the kubelet's pod list (or an object from the API server, with `peer` "API server")
/// could not be had: the URL asked, what happened, and what to check.
///
/// ```
/// kubelet unreachable at https://127.0.0.1:10250/pods: connection refused (...)
/// kubelet at https://10.0.1.23:10250/pods answered 403 Forbidden: ... grant it get on nodes/proxy
/// ```
public struct KubeletError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure; more codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case configuration, unreachable, timeout, tls, unauthorized, forbidden, unexpectedStatus, tooLarge, malformedJSON
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A bad URL, or a token or CA file that cannot be read.
        public static let configuration = Code(.configuration)
        /// No connection: refused, no route, name not resolved.
        public static let unreachable = Code(.unreachable)
        /// No connection, or no complete answer, within the timeout.
        public static let timeout = Code(.timeout)
        /// The TLS handshake failed: untrusted certificate, wrong host name, not a TLS port.
        public static let tls = Code(.tls)
        /// 401: the token was not accepted.
        public static let unauthorized = Code(.unauthorized)
        /// 403: the token's identity may not read pods from the kubelet.
        public static let forbidden = Code(.forbidden)
        /// Any other non-200 status.
        public static let unexpectedStatus = Code(.unexpectedStatus)
        /// The answer was larger than the configured cap.
        public static let tooLarge = Code(.tooLarge)
        /// The answer is not JSON, or not a PodList.
        public static let malformedJSON = Code(.malformedJSON)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The URL that was asked, e.g. `https://127.0.0.1:10250/pods`.
    public var url: String
    /// What happened, and what to check.
    public var reason: String
    /// Who was asked: `kubelet` or `API server`.
    public var peer: String

    public init(_ code: Code, url: String, _ reason: String, peer: String = "kubelet") {
        self.code = code
        self.url = url
        self.reason = reason
        self.peer = peer
    }

    public var description: String {
        switch code {
        case .unreachable, .timeout, .tls: "\(peer) unreachable at \(url): \(reason)"
        default: "\(peer) at \(url): \(reason)"
        }
    }
}
