import AsyncHTTPClient
import KubeHeroCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The hub's REST API, as the CLI uses it. One instance per command; call ``shutdown()`` when
/// done, or use ``withClient(_:_:)`` which does.
///
/// ```swift
/// let costs = try await HubClient.withClient(config) { hub in
///     try await hub.costs(.init(window: "7d", aggregate: "namespace"))
/// }
/// ```
public struct HubClient: AsyncShutdown {
    public let baseURL: String
    public let token: String?
    public let caFile: String?
    let config: CLIConfig
    let http: HTTPClient

    /// Answers larger than this are refused rather than buffered.
    public static let maxResponseBytes = 64 * 1024 * 1024
    /// The whole of one request, connect to last byte.
    static let requestTimeout = TimeAmount.seconds(120)

    /// A client for the hub at `config.hubURL`, trusting exactly the certificates in
    /// `config.caFile` (the system store when there is none).
    public init(config: CLIConfig) throws {
        var tls: TLSConfiguration?
        if config.hubURL.lowercased().hasPrefix("https://") {
            var t = TLSConfiguration.makeClientConfiguration()
            if let caFile = config.caFile {
                t.trustRoots = .certificates(try Self.loadCertificates(caFile, source: config.caFileSource ?? "--ca-file"))
            }
            tls = t
        }
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(60))
        )
        self.config = config
        self.baseURL = config.hubURL
        self.token = config.token
        self.caFile = config.caFile
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    public init(baseURL: String, token: String? = nil, caFile: String? = nil) throws {
        try self.init(config: CLIConfig(
            hubURL: try CLIConfig.normalizeHubURL(baseURL, source: "hub URL"), token: token, caFile: caFile,
            hubSource: "hub URL", tokenSource: token.map { _ in "token" }, caFileSource: caFile.map { _ in "CA file" }
        ))
    }

    /// Runs `body` with a client and shuts the client down afterwards, whether `body` threw or not.
    public static func withClient<Result>(
        _ config: CLIConfig,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (HubClient) async throws -> Result
    ) async throws -> Result {
        try await HubClient(config: config).closing(body)
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: - Clusters

    /// `POST /v1/clusters`: registers a cluster and has its CSR signed.
    public func createCluster(_ request: CreateClusterRequest) async throws -> ClusterCertificateResponse {
        try await send(.POST, "/v1/clusters", body: try Self.encode(request))
    }

    /// `GET /v1/clusters`.
    public func listClusters() async throws -> [ClusterInfo] {
        let list: ClusterList = try await send(.GET, "/v1/clusters")
        return list.clusters
    }

    /// `GET /v1/clusters/NAME`.
    public func getCluster(_ name: String) async throws -> ClusterInfo {
        try await send(.GET, "/v1/clusters/" + PercentEncoding.encode(name))
    }

    /// What `DELETE /v1/clusters/NAME` reports.
    public struct Removal: Hashable, Sendable, Codable {
        public var removed: String
        /// Agent streams of the cluster the hub closed.
        public var closedStreams: Int
    }

    /// `DELETE /v1/clusters/NAME`: unregisters the cluster and closes its agents' streams.
    public func removeCluster(_ name: String) async throws -> Removal {
        let answer: [String: String] = try await send(.DELETE, "/v1/clusters/" + PercentEncoding.encode(name))
        return Removal(removed: answer["removed"] ?? name, closedStreams: answer["closedStreams"].flatMap { Int($0) } ?? 0)
    }

    /// `POST /v1/clusters/NAME/rotate-cert`: a new certificate for a new key; the old one is revoked.
    public func rotateCertificate(_ name: String, _ request: RotateCertificateRequest) async throws -> ClusterCertificateResponse {
        try await send(.POST, "/v1/clusters/" + PercentEncoding.encode(name) + "/rotate-cert", body: try Self.encode(request))
    }

    // MARK: - Costs

    /// Which rows a cost or series query covers; nil matches all.
    public typealias Filter = RowFilter

    /// The parameters of `GET /v1/costs`.
    public struct CostsQuery: Hashable, Sendable {
        /// `24h`, `7d`, or `START,END` in RFC 3339.
        public var window: String
        /// `namespace`, `cluster`, `node`, `pod`, `container` or `label:KEY`.
        public var aggregate: String
        /// One result per step when given (`1d`).
        public var step: String?
        public var filter: Filter

        public init(window: String = "24h", aggregate: String = "namespace", step: String? = nil, filter: Filter = Filter()) {
            self.window = window
            self.aggregate = aggregate
            self.step = step
            self.filter = filter
        }

        var queryItems: [(String, String)] {
            [("window", window), ("aggregate", aggregate)] + (step.map { [("step", $0)] } ?? []) + filter.queryItems
        }
    }

    /// The parameters of `GET /v1/series`.
    public struct SeriesQuery: Hashable, Sendable {
        public var window: String
        public var step: String
        public var filter: Filter

        public init(window: String = "1h", step: String = "1m", filter: Filter = Filter()) {
            self.window = window
            self.step = step
            self.filter = filter
        }

        var queryItems: [(String, String)] { [("window", window), ("step", step)] + filter.queryItems }
    }

    /// `GET /v1/costs`.
    public func costs(_ query: CostsQuery) async throws -> CostsResponse {
        try await send(.GET, "/v1/costs" + Self.queryString(query.queryItems))
    }

    /// `GET /v1/series`.
    public func series(_ query: SeriesQuery) async throws -> SeriesResponse {
        try await send(.GET, "/v1/series" + Self.queryString(query.queryItems))
    }

    // MARK: - Transport

    func send<Response: Decodable>(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> Response {
        let what = "\(method.rawValue) \(path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path)"
        let (status, data) = try await sendBytes(method, path, body: body)
        do {
            return try JSONDecoder().decode(Response.self, from: data)
        } catch {
            throw HubError(
                .unexpectedResponse, status: status,
                "the hub's answer to \(what) is not what this CLI understands (\(Self.describe(decoding: error))); are the CLI and hub versions compatible?"
            )
        }
    }

    /// Sends a request and returns the body of a 2xx answer as it came; throws for the rest.
    func sendBytes(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> (status: Int, data: Data) {
        let url = baseURL + path
        let what = "\(method.rawValue) \(path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path)"
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "kubehero-cli")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }

        let status: HTTPResponseStatus
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: Self.requestTimeout)
            status = response.status
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as NIOTooManyBytesError {
            throw HubError(.unexpectedResponse, "the hub's answer to \(what) is larger than \(error.maxBytes.map { "\($0 / 1024 / 1024) MiB" } ?? "the limit")")
        } catch {
            throw transportError(error)
        }

        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(Int(status.code)) else {
            throw answerError(status: Int(status.code), data: data, what: what)
        }
        return (Int(status.code), data)
    }

    /// The error for a non-2xx answer: the hub's own error body when there is one.
    func answerError(status: Int, data: Data, what: String) -> HubError {
        if let body = try? JSONDecoder().decode(APIErrorBody.self, from: data) {
            var hint: String?
            if status == 401, token == nil {
                hint = "no token is set: pass --token, set \(CLIConfig.tokenVariable), or add \"token:\" to the config file"
            } else if status == 401, let source = config.tokenSource {
                hint = "token from \(source)"
            }
            return HubError(status: status, body: body, hint: hint)
        }
        var text = ErrorLine.oneLine(String(decoding: data.prefix(200), as: UTF8.self))
        if text.isEmpty { text = "no body" }
        return HubError(
            .unexpectedResponse, status: status,
            "the hub at \(baseURL) answered \(what) with \(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase): \(text)"
        )
    }

    /// Names what went wrong on the way to the hub, and what to check.
    func transportError(_ error: any Error) -> HubError {
        let at = "hub at \(baseURL)"
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return HubError(.timeout, "cannot reach \(at): no connection within 5 seconds (is the hub running, and is \(config.hubSource) right?)")
            case .readTimeout, .deadlineExceeded:
                return HubError(.timeout, "\(at) did not answer within the timeout")
            case .tlsHandshakeTimeout:
                return HubError(.timeout, "cannot reach \(at): the TLS handshake timed out (is it a TLS port?)")
            case .remoteConnectionClosed:
                return HubError(.unreachable, "\(at) closed the connection before answering (is it plain http rather than https, or the other way round?)")
            default:
                return HubError(.unreachable, "request to \(at) failed: \(error.shortDescription)")
            }
        }
        if let reason = tlsReason(error) {
            return HubError(.tls, "TLS connection to \(at) failed: \(reason)")
        }
        if let error = error as? NIOConnectionError {
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return HubError(.unreachable, "cannot reach \(at): cannot resolve host \(error.host) (check \(config.hubSource))")
            }
            let reasons = Set(error.connectionErrors.map { Self.describe(socketError: $0.error) }).sorted()
            return HubError(.unreachable, "cannot reach \(at): \(reasons.isEmpty ? "no address to connect to" : reasons.joined(separator: "; "))")
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return HubError(.timeout, "cannot reach \(at): no connection within 5 seconds")
        }
        if error is IOError {
            return HubError(.unreachable, "cannot reach \(at): \(Self.describe(socketError: error))")
        }
        return HubError(.unreachable, "cannot reach \(at): \(ErrorLine.oneLine(String(describing: error)))")
    }

    /// A TLS failure in words, with what to do about it; nil if `error` is not about TLS.
    func tlsReason(_ error: any Error) -> String? {
        let trust: String
        if let caFile, let source = config.caFileSource {
            trust = "check that \(caFile) (from \(source)) is the CA certificate of this hub (kubehero-hub init writes it as DIR/ca.pem)"
        } else {
            trust = "the system trust store was used; pass --ca-file with the hub's CA certificate (DIR/ca.pem from kubehero-hub init)"
        }
        if let error = error as? NIOSSLExtraError {
            if error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch {
                return "the hub's certificate is not valid for the host in \(baseURL) (\(config.hubSource)); use a host name or IP address the certificate names"
            }
            return "\(ErrorLine.oneLine(String(describing: error))); \(trust)"
        }
        if let error = error as? NIOSSLError {
            let text = String(describing: error)
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "the hub's certificate is not signed by a trusted CA; \(trust)"
            }
            if text.contains("WRONG_VERSION_NUMBER") || text.contains("PACKET_LENGTH_TOO_LONG") {
                return "the hub did not answer with TLS (is it plain http? then use http:// in \(config.hubSource))"
            }
            return "\(ErrorLine.oneLine(text)); \(trust)"
        }
        if error is BoringSSLError {
            return "\(ErrorLine.oneLine(String(describing: error))); \(trust)"
        }
        return nil
    }

    static func describe(socketError error: any Error) -> String {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return "connection refused (is the hub running on that port?)"
            case ENETUNREACH, EHOSTUNREACH: return "host or network unreachable"
            case ETIMEDOUT: return "connection timed out"
            default: break
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "no connection within 5 seconds" }
        return ErrorLine.oneLine(String(describing: error))
    }

    static func describe(decoding error: any Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, context):
            "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case let DecodingError.dataCorrupted(context):
            context.codingPath.isEmpty ? "not JSON" : "bad value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            ErrorLine.oneLine(String(describing: error))
        }
    }

    // MARK: - Encoding

    static func loadCertificates(_ path: String, source: String) throws -> [NIOSSLCertificate] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HubError(.configuration, "CA file \(path) (from \(source)) does not exist or cannot be read")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMBytes(Array(data))
        } catch {
            throw HubError(.configuration, "CA file \(path) (from \(source)) is not a PEM certificate file")
        }
        if certificates.isEmpty {
            throw HubError(.configuration, "CA file \(path) (from \(source)) holds no CERTIFICATE block")
        }
        return certificates
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    /// `?a=1&b=2`, every value percent-encoded (RFC 3986 unreserved characters kept).
    static func queryString(_ items: [(String, String)]) -> String {
        items.isEmpty ? "" : "?" + items.map { "\(PercentEncoding.encode($0.0))=\(PercentEncoding.encode($0.1))" }.joined(separator: "&")
    }
}
