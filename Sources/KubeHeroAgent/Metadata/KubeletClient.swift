import AsyncHTTPClient
import KubeHeroCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where pod lists come from: the kubelet in production, a canned answer in tests.
public protocol PodListFetcher: Sendable {
    /// What is asked, for messages (`https://127.0.0.1:10250/pods`).
    var endpoint: String { get }
    /// The pods on this node now.
    func fetchPods() async throws -> KubeletPodList
}

/// Reads `GET /pods` from the node's kubelet over HTTPS, authenticated with the pod's
/// service-account token.
///
/// The kubelet authorizes `/pods` as `get` on the `nodes/proxy` subresource, so the agent's
/// service account needs a ClusterRole granting that. Kubelet serving certificates are often
/// self-signed and name the node's IP or host name rather than 127.0.0.1: point `baseURL` at a
/// name the certificate carries (the node IP from the downward API's `status.hostIP`) with the
/// CA that signed it, or set `insecureSkipVerify`.
///
/// The client owns an `HTTPClient`: call ``shutdown()`` when done, or use
/// ``withClient(configuration:logger:isolation:_:)``.
///
/// ```swift
/// try await KubeletClient.withClient(configuration: .init(baseURL: "https://10.0.1.23:10250"), logger: logger) { kubelet in
///     let pods = try await kubelet.fetchPods()
/// }
/// ```
public struct KubeletClient: PodListFetcher, AsyncShutdown {
    public struct Configuration: Hashable, Sendable {
        public static let defaultBaseURL = "https://127.0.0.1:10250"
        public static let serviceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
        public static let serviceAccountCAFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

        /// `https://HOST:PORT` of the kubelet (`http://` only for a read-only port).
        public var baseURL: String
        /// Bearer token file, re-read on every fetch because projected tokens rotate; nil sends none.
        public var tokenFile: String?
        /// PEM file of the CA(s) that sign the kubelet's serving certificate; nil uses the system
        /// trust store. Ignored with `insecureSkipVerify`.
        public var caFile: String?
        /// Accept any kubelet certificate. Logged as a warning when used.
        public var insecureSkipVerify: Bool
        /// How long a connection (TCP and TLS) may take.
        public var connectTimeout: Duration
        /// How long the whole request may take, connect to last byte.
        public var timeout: Duration
        /// Answers larger than this are refused rather than buffered.
        public var maxBodyBytes: Int
        /// Who is asked, for messages: `kubelet`, or `API server` when the same client reads
        /// objects from the Kubernetes API (``KubernetesAPI``).
        public var peer: String = "kubelet"

        public init(
            baseURL: String = defaultBaseURL, tokenFile: String? = serviceAccountTokenFile,
            caFile: String? = serviceAccountCAFile, insecureSkipVerify: Bool = false,
            connectTimeout: Duration = .seconds(2), timeout: Duration = .seconds(10), maxBodyBytes: Int = 64 << 20
        ) {
            self.baseURL = baseURL
            self.tokenFile = tokenFile
            self.caFile = caFile
            self.insecureSkipVerify = insecureSkipVerify
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public let configuration: Configuration
    /// The URL asked: `baseURL` + `/pods`.
    public let endpoint: String
    /// `baseURL` without a trailing slash.
    public let base: String
    private let http: HTTPClient
    private let logger: Logger

    /// Checks the URL and loads the CA file; fails with a `.configuration` error naming the
    /// file or URL. The token file is read on each fetch instead.
    public init(configuration: Configuration = Configuration(), logger: Logger) throws(KubeletError) {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        let endpoint = base + "/pods"
        let lower = base.lowercased()
        guard lower.hasPrefix("https://") || lower.hasPrefix("http://"), base.split(separator: "/").count >= 2 else {
            throw KubeletError(.configuration, url: configuration.baseURL, "not a \(configuration.peer) URL: expected https://HOST:PORT, e.g. \(Configuration.defaultBaseURL)", peer: configuration.peer)
        }
        var tls: TLSConfiguration?
        if lower.hasPrefix("https://") {
            var t = TLSConfiguration.makeClientConfiguration()
            t.minimumTLSVersion = .tlsv12
            // A request abandoned at its deadline closes its connection; a kubelet that does not
            // answer the TLS close must not hold up the next fetch or the agent's shutdown.
            t.shutdownTimeout = .seconds(1)
            if configuration.insecureSkipVerify {
                t.certificateVerification = .none
                logger.warning(
                    "not verifying the kubelet's serving certificate (insecure skip verify): pod metadata could be spoofed by anyone on the path",
                    metadata: ["kubelet": "\(endpoint)"]
                )
            } else if let caFile = configuration.caFile {
                t.trustRoots = .certificates(try Self.loadCertificates(caFile, url: endpoint, peer: configuration.peer))
            }
            tls = t
        } else if configuration.tokenFile != nil {
            logger.warning("sending the service-account token to the kubelet over plain HTTP", metadata: ["kubelet": "\(endpoint)"])
        }
        var clientConfiguration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: TimeAmount(configuration.connectTimeout), read: TimeAmount(configuration.timeout))
        )
        // A refused or failed connection fails the request at once, naming why, instead of being
        // retried with backoff until the deadline: every caller (the pod list, the Node object,
        // claims, the node list) asks again on its own schedule and keeps what it had meanwhile.
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        self.configuration = configuration
        self.endpoint = endpoint
        self.base = base
        self.logger = logger
        self.http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: clientConfiguration)
    }

    /// Runs `body` with a client and shuts it down afterwards, whether `body` threw or not.
    public static func withClient<Result>(
        configuration: Configuration = Configuration(), logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (KubeletClient) async throws -> Result
    ) async throws -> Result {
        try await KubeletClient(configuration: configuration, logger: logger).closing(body)
    }

    /// Closes the client's connections. Call once, when no fetch is running.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// `GET /pods`, with the token as it is in the token file now.
    public func fetchPods() async throws(KubeletError) -> KubeletPodList {
        let body = try await get("/pods")
        return try KubeletPodList.decode(Data(body.readableBytesView), from: endpoint)
    }

    /// `GET base + path` with the token as it is in the token file now: the body of a 200
    /// answer, else an error naming the URL, what happened and what to check.
    public func get(_ path: String) async throws(KubeletError) -> ByteBuffer {
        let url = base + path
        let token = try await readToken(url: url)
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "kubehero-agent")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }

        let (status, body): (HTTPResponseStatus, ByteBuffer)
        do {
            (status, body) = try await withDeadline(configuration.timeout) { [http, configuration, request] in
                let response = try await http.execute(request, timeout: TimeAmount(configuration.timeout))
                do {
                    return (response.status, try await response.body.collect(upTo: configuration.maxBodyBytes))
                } catch is NIOTooManyBytesError {
                    throw KubeletError(.tooLarge, url: url, "the answer is larger than \(configuration.maxBodyBytes) bytes", peer: configuration.peer)
                }
            }
        } catch let error as KubeletError {
            throw error
        } catch {
            throw transportError(error, url: url)
        }
        guard status == .ok else { throw statusError(status, body: body, path: path, url: url) }
        return body
    }

    // MARK: - Internals

    private struct DeadlineExceeded: Error {}

    /// Runs `operation`, cancelling it when `limit` passes first: the client's own deadline only
    /// covers the response head, not the body.
    private func withDeadline<T: Sendable>(
        _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw DeadlineExceeded()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func readToken(url endpoint: String) async throws(KubeletError) -> String? {
        guard let path = configuration.tokenFile else { return nil }
        let data: Data?
        do {
            data = try await NIOThreadPool.singleton.runIfActive { FileManager.default.contents(atPath: path) }
        } catch {
            throw KubeletError(.configuration, url: endpoint, "cannot read the token file \(path): \(error)", peer: configuration.peer)
        }
        guard let data else {
            throw KubeletError(.configuration, url: endpoint, "the token file \(path) does not exist or cannot be read (is a service account token mounted?)", peer: configuration.peer)
        }
        let token = Self.trimmed(String(decoding: data, as: UTF8.self))
        if token.isEmpty { throw KubeletError(.configuration, url: endpoint, "the token file \(path) is empty", peer: configuration.peer) }
        return token
    }

    private static func loadCertificates(_ path: String, url: String, peer: String) throws(KubeletError) -> [NIOSSLCertificate] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeletError(.configuration, url: url, "the CA file \(path) does not exist or cannot be read (give the CA of the \(peer)'s serving certificate, or skip verification)", peer: peer)
        }
        let certificates = (try? NIOSSLCertificate.fromPEMBytes(Array(data))) ?? []
        if certificates.isEmpty {
            throw KubeletError(.configuration, url: url, "the CA file \(path) holds no PEM certificate", peer: peer)
        }
        return certificates
    }

    private func statusError(_ status: HTTPResponseStatus, body: ByteBuffer, path: String, url endpoint: String) -> KubeletError {
        let said = Self.oneLine(String(decoding: body.readableBytesView.prefix(300), as: UTF8.self))
        let answer = "answered \(status.code) \(status.reasonPhrase)" + (said.isEmpty ? "" : " (\"\(said)\")")
        switch status {
        case .unauthorized:
            let token = configuration.tokenFile.map { "the token from \($0)" } ?? "the request (no token file is configured)"
            let check = path == "/pods" ? " and that the kubelet authenticates bearer tokens (--authentication-token-webhook)" : ""
            return KubeletError(.unauthorized, url: endpoint, "\(answer): the \(configuration.peer) did not accept \(token); check that the token is current\(check)", peer: configuration.peer)
        case .forbidden:
            let grant = path == "/pods"
                ? "may not read pods from the kubelet; grant it RBAC get on nodes/proxy (a ClusterRole with resources [\"nodes/proxy\"], verbs [\"get\"])"
                : "may not read \(path); grant it RBAC get on that resource (the chart's agent ClusterRole has nodes and persistentvolumeclaims)"
            return KubeletError(.forbidden, url: endpoint, "\(answer): the agent's service account \(grant)", peer: configuration.peer)
        default:
            return KubeletError(.unexpectedStatus, url: endpoint, answer, peer: configuration.peer)
        }
    }

    /// Names what went wrong on the way to the kubelet, and what to check.
    private func transportError(_ error: any Error, url endpoint: String) -> KubeletError {
        let peer = configuration.peer
        let connect = Self.describe(configuration.connectTimeout)
        let total = Self.describe(configuration.timeout)
        if error is DeadlineExceeded {
            return KubeletError(.timeout, url: endpoint, "no complete answer within \(total)", peer: peer)
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return KubeletError(.timeout, url: endpoint, "no connection within \(connect)", peer: peer)
            case .readTimeout, .deadlineExceeded:
                return KubeletError(.timeout, url: endpoint, "no complete answer within \(total)", peer: peer)
            case .tlsHandshakeTimeout:
                return KubeletError(.tls, url: endpoint, "the TLS handshake timed out (is it a TLS port?)", peer: peer)
            case .remoteConnectionClosed:
                return KubeletError(.unreachable, url: endpoint, "the \(peer) closed the connection before answering (http:// on a TLS port, or the other way round?)", peer: peer)
            default:
                return KubeletError(.unreachable, url: endpoint, Self.oneLine("\(error)"), peer: peer)
            }
        }
        if let reason = tlsReason(error) {
            return KubeletError(.tls, url: endpoint, "TLS handshake failed: \(reason)", peer: peer)
        }
        if let error = error as? NIOConnectionError {
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return KubeletError(.unreachable, url: endpoint, "cannot resolve host \(error.host)", peer: peer)
            }
            let reasons = Set(error.connectionErrors.map { Self.describe(socketError: $0.error, peer: peer) }).sorted()
            return KubeletError(.unreachable, url: endpoint, reasons.isEmpty ? "no address to connect to" : reasons.joined(separator: "; "), peer: peer)
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return KubeletError(.timeout, url: endpoint, "no connection within \(connect)", peer: peer)
        }
        return KubeletError(.unreachable, url: endpoint, Self.describe(socketError: error, peer: peer), peer: peer)
    }

    private func tlsReason(_ error: any Error) -> String? {
        let trust = configuration.caFile.map {
            "check that \($0) holds the CA that signed the \(configuration.peer)'s serving certificate (they are often self-signed), or skip verification"
        } ?? "no CA file is configured, so the system trust store was used; give the kubelet's CA file, or skip verification"
        if let error = error as? NIOSSLExtraError {
            if error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch {
                return "the \(configuration.peer)'s certificate does not name the host in \(configuration.baseURL); use the node IP or host name it was issued for (status.hostIP), or skip verification"
            }
            return "\(Self.oneLine("\(error)")); \(trust)"
        }
        if let error = error as? NIOSSLError {
            let text = "\(error)"
            if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") {
                return "the \(configuration.peer) did not answer with TLS (a plain HTTP port? then use http://)"
            }
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "the \(configuration.peer)'s certificate is not signed by a trusted CA; \(trust)"
            }
            return "\(Self.oneLine(text)); \(trust)"
        }
        if error is BoringSSLError {
            return "\(Self.oneLine("\(error)")); \(trust)"
        }
        return nil
    }

    private static func describe(socketError error: any Error, peer: String) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return peer == "kubelet" ? "connection refused (is the kubelet listening there? its port is 10250)" : "connection refused (is the \(peer) listening there?)"
            case ENETUNREACH, EHOSTUNREACH: return "host or network unreachable"
            case ETIMEDOUT: return "connection timed out"
            default: break
            }
        }
        return oneLine("\(error)")
    }

    /// `2 s`, or `300 ms` below a second.
    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if seconds >= 1 && attoseconds == 0 { return "\(seconds) s" }
        return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms"
    }

    static func oneLine(_ text: String) -> String {
        trimmed(text.split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    static func trimmed(_ text: String) -> String {
        String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
