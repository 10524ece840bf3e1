import AsyncHTTPClient
import KubeHeroCore
import NIOCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `s3://bucket/prefix`: a bucket and a key prefix (no leading or trailing slash; may be empty).
public struct S3Location: Hashable, Sendable, CustomStringConvertible {
    public var bucket: String
    public var prefix: String

    /// Parses `s3://bucket` or `s3://bucket/some/prefix`; the error names `field` and what is wrong.
    public init(parsing text: String, field: String = "--s3") throws(ValidationError) {
        guard text.hasPrefix("s3://") else {
            throw ValidationError(field: field, "\"\(text)\" is not an s3://bucket/prefix URL")
        }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = Substring(rest.dropFirst(bucket.count))
        while prefix.first == "/" { prefix.removeFirst() }
        while prefix.last == "/" { prefix.removeLast() }
        guard !bucket.isEmpty else { throw ValidationError(field: field, "\"\(text)\" has no bucket name (s3://bucket/prefix)") }
        try Self.checkBucket(bucket, field: field)
        if prefix.contains("//") || prefix.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) {
            throw ValidationError(field: field, "the prefix \"\(prefix)\" has an empty, \".\" or \"..\" part")
        }
        guard prefix.utf8.count <= 900 else { throw ValidationError(field: field, "the prefix is longer than 900 bytes (S3 keys are at most 1024)") }
        if prefix.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw ValidationError(field: field, "the prefix has a control character")
        }
        self.bucket = bucket
        self.prefix = String(prefix)
    }

    /// S3's bucket naming rules: 3 to 63 lower-case letters, digits, dots and hyphens, starting
    /// and ending with a letter or digit.
    static func checkBucket(_ bucket: String, field: String) throws(ValidationError) {
        let b = Array(bucket.utf8)
        func alnum(_ c: UInt8) -> Bool { (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) }
        guard (3...63).contains(b.count) else {
            throw ValidationError(field: field, "bucket name \"\(bucket)\" must be 3 to 63 characters long")
        }
        guard b.allSatisfy({ alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }), alnum(b.first!), alnum(b.last!) else {
            throw ValidationError(field: field, "bucket name \"\(bucket)\" may only hold lower-case letters, digits, dots and hyphens, and must start and end with a letter or digit")
        }
    }

    /// The full key of `name` under the prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }

    public var description: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/" + prefix) }
}

/// A failed S3 request: which, the HTTP status, and S3's own error code and message when the
/// answer had them (`<Error><Code>…</Code><Message>…</Message></Error>`).
public struct S3Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// `PUT s3://bucket/key`.
    public var operation: String
    /// nil when no answer came (connection refused, timeout).
    public var status: Int?
    public var code: String?
    public var message: String

    public init(operation: String, status: Int?, code: String?, message: String) {
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String {
        var s = operation + ": "
        if let status { s += "HTTP \(status)" + (code.map { " \($0)" } ?? "") + ": " }
        s += message
        if let hint { s += " (\(hint))" }
        return s
    }

    var hint: String? {
        switch code {
        case "SignatureDoesNotMatch": "check \(AWSCredentials.secretKeyVariable)"
        case "InvalidAccessKeyId": "check \(AWSCredentials.accessKeyVariable)"
        case "ExpiredToken", "InvalidToken": "renew \(AWSCredentials.sessionTokenVariable)"
        case "NoSuchBucket": "create the bucket first"
        case "AuthorizationHeaderMalformed", "PermanentRedirect": "check --s3-region"
        case "RequestTimeTooSkewed": "check this machine's clock"
        default: nil
        }
    }
}

/// How often and how patiently a request is tried again after a transient failure
/// (no answer, HTTP 5xx, 429, SlowDown).
public struct S3RetryPolicy: Hashable, Sendable {
    public var attempts: Int
    public var firstDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int = 5, firstDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5)) {
        self.attempts = max(1, attempts)
        self.firstDelay = firstDelay
        self.maxDelay = maxDelay
    }

    /// Exponential, with jitter so that many forwarders do not retry in step.
    func delay(afterAttempt n: Int) -> Duration {
        let exponential = firstDelay * (1 << min(n, 16))
        let capped = min(exponential, maxDelay)
        return capped * Double.random(in: 0.5...1.0)
    }
}

/// The few S3 operations the audit forwarder needs, against AWS or any S3-compatible server,
/// path-style (`ENDPOINT/bucket/key`), signed with ``SigV4Signer``. One instance per command;
/// ``shutdown()`` when done, or use ``withClient(endpoint:region:credentials:retry:_:)``.
public struct S3Client: AsyncShutdown {
    public let endpoint: Endpoint
    public let signer: SigV4Signer
    public let retry: S3RetryPolicy
    let http: HTTPClient
    let now: @Sendable () -> Int64

    /// Answers larger than this are refused rather than buffered.
    public static let maxResponseBytes = 256 * 1024 * 1024
    static let requestTimeout = TimeAmount.seconds(120)

    /// `scheme://host[:port]` of an S3 API.
    public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        public var scheme: String
        public var host: String
        public var port: Int?

        /// Parses `https://host[:port]` (a trailing slash is fine, a path is not); errors name `field`.
        public init(parsing text: String, field: String = "--s3-endpoint") throws(ValidationError) {
            let lower = text.lowercased()
            guard let scheme = ["https", "http"].first(where: { lower.hasPrefix($0 + "://") }) else {
                throw ValidationError(field: field, "\"\(text)\" is not an http:// or https:// URL")
            }
            var rest = Substring(text.dropFirst(scheme.count + 3))
            if rest.last == "/" { rest.removeLast() }
            guard !rest.contains("/"), !rest.contains("?"), !rest.contains("@") else {
                throw ValidationError(field: field, "\"\(text)\" must be just scheme://host[:port] (buckets are addressed path-style)")
            }
            var host = rest, port: Int?
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
                host = rest[..<colon]
                guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                    throw ValidationError(field: field, "\"\(text)\" has a bad port")
                }
                port = p
            }
            guard !host.isEmpty else { throw ValidationError(field: field, "\"\(text)\" has no host") }
            self.init(scheme: scheme, host: String(host), port: port)
        }

        init(scheme: String, host: String, port: Int?) {
            self.scheme = scheme
            self.host = host
            self.port = port
        }

        /// The `Host` header: the port only when it is not the scheme's default.
        public var hostHeader: String {
            guard let port, port != (scheme == "https" ? 443 : 80) else { return host }
            return "\(host):\(port)"
        }

        public var description: String { "\(scheme)://\(hostHeader)" }

        /// AWS's regional endpoint.
        public static func aws(region: String) -> Endpoint {
            Endpoint(scheme: "https", host: "s3.\(region).amazonaws.com", port: nil)
        }
    }

    /// A region name as AWS spells them (`us-east-1`); errors name `field`.
    public static func checkRegion(_ region: String, field: String) throws(ValidationError) {
        guard !region.isEmpty, region.utf8.count <= 64,
              region.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") })
        else { throw ValidationError(field: field, "\"\(region)\" is not a region name such as us-east-1") }
    }

    public init(
        endpoint: Endpoint, region: String, credentials: AWSCredentials, retry: S3RetryPolicy = S3RetryPolicy(),
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) {
        self.endpoint = endpoint
        self.signer = SigV4Signer(credentials: credentials, region: region, service: "s3")
        self.retry = retry
        self.now = now
        // S3 redirects name another region; following them would only fail the signature.
        let configuration = HTTPClient.Configuration(tlsConfiguration: nil, redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60)))
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Runs `body` with a client and shuts the client down afterwards, whether `body` threw or not.
    public static func withClient<Result>(
        endpoint: Endpoint, region: String, credentials: AWSCredentials, retry: S3RetryPolicy = S3RetryPolicy(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (S3Client) async throws -> Result
    ) async throws -> Result {
        try await S3Client(endpoint: endpoint, region: region, credentials: credentials, retry: retry).closing(body)
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: - Operations

    /// `PutObject`: the whole object in one request.
    public func putObject(bucket: String, key: String, body: [UInt8], contentType: String = "application/octet-stream") async throws {
        _ = try await send(.PUT, bucket: bucket, key: key, body: body, headers: [("content-type", contentType)])
    }

    /// `GetObject`; nil when there is no such key.
    public func getObject(bucket: String, key: String) async throws -> [UInt8]? {
        do {
            return try await send(.GET, bucket: bucket, key: key)
        } catch let error as S3Error where error.status == 404 && error.code != "NoSuchBucket" {
            return nil
        }
    }

    /// `ListObjectsV2`: every key under `prefix` (after `startAfter`), in S3's (UTF-8 binary) order,
    /// page after page.
    public func listObjects(bucket: String, prefix: String, startAfter: String? = nil) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let startAfter { query.append(("start-after", startAfter)) }
            if let token { query.append(("continuation-token", token)) }
            let body = String(decoding: try await send(.GET, bucket: bucket, key: nil, query: query), as: UTF8.self)
            let page = S3XML.values("Key", in: body)
            keys += page
            let truncated = S3XML.values("IsTruncated", in: body).first == "true"
            token = truncated ? S3XML.values("NextContinuationToken", in: body).first : nil
            if truncated, token == nil || page.isEmpty {
                throw S3Error(operation: "GET s3://\(bucket)?list-type=2", status: 200, code: nil, message: "a truncated listing without a continuation token")
            }
        } while token != nil
        return keys
    }

    /// `DeleteObject` (S3 answers alike whether or not the key existed).
    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await send(.DELETE, bucket: bucket, key: key)
    }

    /// `CreateBucket` (in the client's region).
    public func createBucket(_ bucket: String) async throws {
        var body: [UInt8] = []
        if signer.region != "us-east-1" {
            body = Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(signer.region)</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        _ = try await send(.PUT, bucket: bucket, key: nil, body: body)
    }

    // MARK: - Requests

    /// One signed request, tried again after transient failures; the body of a 2xx answer.
    func send(
        _ method: HTTPMethod, bucket: String, key: String?, query: [(String, String)] = [],
        body: [UInt8] = [], headers: [(String, String)] = []
    ) async throws -> [UInt8] {
        let path = "/" + SigV4Signer.uriEncode(bucket, keepSlash: false) + (key.map { "/" + SigV4Signer.uriEncode($0, keepSlash: true) } ?? "")
        let queryString = query
            .map { SigV4Signer.uriEncode($0.0, keepSlash: false) + "=" + SigV4Signer.uriEncode($0.1, keepSlash: false) }
            .joined(separator: "&")
        let operation = "\(method.rawValue) s3://\(bucket)" + (key.map { "/" + $0 } ?? "") + (query.isEmpty ? "" : "?" + queryString)
        let payloadHash = SigV4Signer.sha256Hex(body)
        var signedHeaders: [(name: String, value: String)] = headers.map { ($0.0, $0.1) }
        signedHeaders.append((name: "x-amz-content-sha256", value: payloadHash))

        var attempt = 0
        while true {
            let signature = signer.sign(
                method: method.rawValue, host: endpoint.hostHeader, path: path, query: query,
                headers: signedHeaders, payloadHash: payloadHash, unixSeconds: now()
            )
            var request = HTTPClientRequest(url: "\(endpoint.scheme)://\(endpoint.hostHeader)\(path)" + (query.isEmpty ? "" : "?" + queryString))
            request.method = method
            for (name, value) in signedHeaders + signature.addedHeaders { request.headers.add(name: name, value: value) }
            request.headers.add(name: "authorization", value: signature.authorization)
            request.headers.add(name: "user-agent", value: "kubehero-cli")
            if !body.isEmpty || method == .PUT { request.body = .bytes(ByteBuffer(bytes: body)) }

            let failure: S3Error
            let transient: Bool
            do {
                let response = try await http.execute(request, timeout: Self.requestTimeout)
                let bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
                let answer = Array(bytes.readableBytesView)
                let status = Int(response.status.code)
                if (200..<300).contains(status) { return answer }
                failure = Self.answerError(operation: operation, status: status, body: answer)
                transient = status >= 500 || status == 429 || ["SlowDown", "RequestTimeout", "InternalError"].contains(failure.code ?? "")
            } catch let error as NIOTooManyBytesError {
                throw S3Error(operation: operation, status: nil, code: nil, message: "the answer is larger than \((error.maxBytes ?? Self.maxResponseBytes) / 1024 / 1024) MiB")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failure = S3Error(operation: operation, status: nil, code: nil, message: "no answer from \(endpoint): \(error)")
                transient = true
            }
            attempt += 1
            guard transient, attempt < retry.attempts else {
                if transient { throw S3Error(operation: failure.operation, status: failure.status, code: failure.code, message: failure.message + " (after \(attempt) attempts)") }
                throw failure
            }
            try await Task.sleep(for: retry.delay(afterAttempt: attempt - 1))
        }
    }

    static func answerError(operation: String, status: Int, body: [UInt8]) -> S3Error {
        let text = String(decoding: body, as: UTF8.self)
        let code = S3XML.values("Code", in: text).first
        var message = S3XML.values("Message", in: text).first ?? ""
        if message.isEmpty {
            message = text.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : String(text.prefix(200))
        }
        return S3Error(operation: operation, status: status, code: code, message: message)
    }
}

/// Just enough XML for S3's answers: the text of every `<tag>…</tag>`, entities decoded.
enum S3XML {
    static func values(_ tag: String, in xml: String) -> [String] {
        let open = "<\(tag)>", close = "</\(tag)>"
        var values: [String] = []
        var rest = Substring(xml)
        while let start = rest.firstRange(of: open) {
            guard let end = rest[start.upperBound...].firstRange(of: close) else { break }
            values.append(unescape(rest[start.upperBound..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
        return values
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) { out.unicodeScalars.append(scalar) } else { out += "&\(entity);" }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
