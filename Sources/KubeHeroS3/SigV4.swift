import Crypto
import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An AWS access key: id, secret and, for temporary credentials, a session token.
public struct AWSCredentials: Hashable, Sendable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public static let accessKeyVariable = "AWS_ACCESS_KEY_ID"
    public static let secretKeyVariable = "AWS_SECRET_ACCESS_KEY"
    public static let sessionTokenVariable = "AWS_SESSION_TOKEN"

    /// The credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, if set,
    /// `AWS_SESSION_TOKEN`; an error naming the variables that are missing.
    public init(environment: [String: String]) throws(ValidationError) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let idValue = value(Self.accessKeyVariable), secretValue = value(Self.secretKeyVariable)
        guard let id = idValue, let secret = secretValue else {
            let missing = [idValue == nil ? Self.accessKeyVariable : nil, secretValue == nil ? Self.secretKeyVariable : nil].compactMap { $0 }
            throw ValidationError(field: "S3 credentials", "\(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") not set (AWS_SESSION_TOKEN too, for temporary credentials)")
        }
        self.init(accessKeyID: id, secretAccessKey: secret, sessionToken: value(Self.sessionTokenVariable))
    }
}

/// AWS Signature Version 4 over request headers (the `Authorization` header form), as in
/// "Create a signed AWS API request" and S3's "Signature Calculations for the Authorization
/// Header". Pure: the time comes in, the headers to add come out.
///
/// ```swift
/// let signer = SigV4Signer(credentials: creds, region: "us-east-1", service: "s3")
/// let added = signer.sign(method: "PUT", host: "s3.us-east-1.amazonaws.com", path: "/bucket/key",
///                         query: [], headers: [], payloadHash: SigV4Signer.sha256Hex(body), unixSeconds: now)
/// ```
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    public static let algorithm = "AWS4-HMAC-SHA256"
    /// SHA-256 of no bytes, the payload hash of a request without a body.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The intermediate values, for tests and for debugging a `SignatureDoesNotMatch`.
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
        /// `host`, `x-amz-date`, (`x-amz-security-token`): headers the request must carry as signed.
        public var addedHeaders: [(name: String, value: String)]
    }

    /// Signs a request. `path` is already URI-encoded (S3 encodes object keys once; other
    /// services would encode twice), `query` is raw (encoded here), `headers` are the ones to
    /// sign besides `host`, `x-amz-date` and the session token, which are added.
    public func sign(
        method: String, host: String, path: String, query: [(String, String)],
        headers: [(name: String, value: String)], payloadHash: String, unixSeconds: Int64
    ) -> Signature {
        let amzDate = Self.amzDate(unixSeconds: unixSeconds)
        let day = String(amzDate.prefix(8))
        var added: [(name: String, value: String)] = [("host", host), ("x-amz-date", amzDate)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }

        var canonicalHeaders: [String: [String]] = [:]
        for (name, value) in headers + added {
            canonicalHeaders[name.lowercased(), default: []].append(Self.trimAndCollapse(value))
        }
        let names = canonicalHeaders.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let canonicalQuery = query
            .map { (Self.uriEncode($0.0, keepSlash: false), Self.uriEncode($0.1, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
        let canonicalRequest = [
            method,
            path.isEmpty ? "/" : path,
            canonicalQuery,
            names.map { "\($0):\(canonicalHeaders[$0]!.joined(separator: ","))\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = [Self.algorithm, amzDate, scope, Self.sha256Hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
        let key = Self.signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        let signature = Self.hex(Array(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key)))
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, authorization: authorization, addedHeaders: added)
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    public static func signingKey(secret: String, day: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// `20150830T123600Z`.
    public static func amzDate(unixSeconds: Int64) -> String {
        String(Timestamp.rfc3339(millis: unixSeconds * 1000).filter { $0 != "-" && $0 != ":" })
    }

    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(Array(SHA256.hash(data: bytes)))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".unicodeScalars)
        var s = String.UnicodeScalarView()
        for b in bytes {
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 0xF)])
        }
        return String(s)
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` when
    /// `keepSlash`), with upper-case hex digits, as SigV4 requires.
    public static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        let digits = Array("0123456789ABCDEF".unicodeScalars)
        var out = String.UnicodeScalarView()
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            }
        }
        return String(out)
    }

    /// Header values are signed without surrounding spaces and with inner runs of spaces as one.
    static func trimAndCollapse(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}
