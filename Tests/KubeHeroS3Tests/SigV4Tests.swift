import Crypto
import KubeHeroCore
import Testing

@testable import KubeHeroS3

/// AWS Signature Version 4 against the examples AWS publishes: IAM ListUsers from "Create a
/// signed AWS API request", and the S3 ones from "Examples: Signature Calculations".
@Suite struct SigV4Tests {
    static func seconds(_ rfc3339: String) -> Int64 { Timestamp.parseRFC3339(rfc3339)! / 1000 }

    static let iam = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "iam"
    )
    static let s3 = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "s3"
    )

    @Test func theIAMListUsersExampleSignsToItsPublishedSignature() {
        let signed = Self.iam.sign(
            method: "GET", host: "iam.amazonaws.com", path: "/", query: [("Version", "2010-05-08"), ("Action", "ListUsers")],
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            payloadHash: SigV4Signer.emptyPayloadHash, unixSeconds: Self.seconds("2015-08-30T12:36:00Z")
        )
        #expect(signed.canonicalRequest == """
            GET
            /
            Action=ListUsers&Version=2010-05-08
            content-type:application/x-www-form-urlencoded; charset=utf-8
            host:iam.amazonaws.com
            x-amz-date:20150830T123600Z

            content-type;host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20150830T123600Z
            20150830/us-east-1/iam/aws4_request
            f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59
            """)
        #expect(signed.signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    @Test func theDerivedSigningKeyIsThePublishedOne() {
        let key = SigV4Signer.signingKey(secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", day: "20150830", region: "us-east-1", service: "iam")
        #expect(key.withUnsafeBytes { SigV4Signer.hex(Array($0)) } == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9")
    }

    @Test func theS3PutObjectExampleSignsItsPayloadHash() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let hash = SigV4Signer.sha256Hex(body)
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let signed = Self.s3.sign(
            method: "PUT", host: "examplebucket.s3.amazonaws.com", path: "/" + SigV4Signer.uriEncode("test$file.text", keepSlash: true), query: [],
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", hash)],
            payloadHash: hash, unixSeconds: Self.seconds("2013-05-24T00:00:00Z")
        )
        #expect(signed.canonicalRequest == """
            PUT
            /test%24file.text

            date:Fri, 24 May 2013 00:00:00 GMT
            host:examplebucket.s3.amazonaws.com
            x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
            x-amz-date:20130524T000000Z
            x-amz-storage-class:REDUCED_REDUNDANCY

            date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class
            44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
            """)
        #expect(signed.stringToSign.hasSuffix("\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func theS3GetObjectExampleSignsItsRangeHeader() {
        let signed = Self.s3.sign(
            method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [],
            headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash, unixSeconds: Self.seconds("2013-05-24T00:00:00Z")
        )
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func theS3ListObjectsExampleSortsAndEncodesItsQuery() {
        let signed = Self.s3.sign(
            method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)],
            payloadHash: SigV4Signer.emptyPayloadHash, unixSeconds: Self.seconds("2013-05-24T00:00:00Z")
        )
        #expect(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "max-keys=2&prefix=J")
        #expect(signed.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func aSessionTokenIsSentAndSigned() {
        var signer = Self.s3
        signer.credentials.sessionToken = "token/with+chars"
        let signed = signer.sign(method: "GET", host: "h", path: "/", query: [], headers: [], payloadHash: SigV4Signer.emptyPayloadHash, unixSeconds: 0)
        #expect(signed.addedHeaders.contains { $0.name == "x-amz-security-token" && $0.value == "token/with+chars" })
        #expect(signed.authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"))
    }

    @Test func keysAreEncodedTheS3Way() {
        #expect(SigV4Signer.uriEncode("a b/c~d*e+f=g", keepSlash: true) == "a%20b/c~d%2Ae%2Bf%3Dg")
        #expect(SigV4Signer.uriEncode("a/b", keepSlash: false) == "a%2Fb")
        #expect(SigV4Signer.uriEncode("é", keepSlash: false) == "%C3%A9")
    }
}

/// What the S3 side says about bad input.
@Suite struct S3InputTests {
    @Test func anS3URLIsBucketAndPrefix() throws {
        let l = try S3Location(parsing: "s3://kubehero-audit/prod/eu/")
        #expect(l.bucket == "kubehero-audit" && l.prefix == "prod/eu" && l.key("state.json") == "prod/eu/state.json")
        #expect(try S3Location(parsing: "s3://kubehero-audit").key("state.json") == "state.json")
    }

    @Test(arguments: [
        ("https://bucket/x", "is not an s3://bucket/prefix URL"),
        ("s3:///prefix", "has no bucket name"),
        ("s3://Bucket_Name/x", "may only hold lower-case letters"),
        ("s3://ab/x", "3 to 63 characters"),
        ("s3://bucket/a//b", "empty"),
        ("s3://bucket/a/../b", "\"..\""),
    ])
    func aBadS3URLIsRefusedSayingWhy(text: String, why: String) {
        let error = #expect(throws: ValidationError.self) { try S3Location(parsing: text) }
        #expect(error?.field == "--s3")
        #expect(error?.reason.contains(why) == true, "\(String(describing: error))")
    }

    @Test func missingCredentialsAreNamed() {
        let error = #expect(throws: ValidationError.self) { try AWSCredentials(environment: ["AWS_ACCESS_KEY_ID": "AKID"]) }
        #expect(error?.reason.contains("AWS_SECRET_ACCESS_KEY is not set") == true, "\(String(describing: error))")
        let both = try? AWSCredentials(environment: ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"])
        #expect(both?.sessionToken == "t")
    }

    @Test func anEndpointIsSchemeHostAndPort() throws {
        let e = try S3Client.Endpoint(parsing: "http://127.0.0.1:9000/")
        #expect(e.hostHeader == "127.0.0.1:9000")
        #expect(try S3Client.Endpoint(parsing: "https://s3.example.com:443").hostHeader == "s3.example.com")
        #expect(throws: ValidationError.self) { try S3Client.Endpoint(parsing: "s3.example.com") }
        #expect(throws: ValidationError.self) { try S3Client.Endpoint(parsing: "http://minio:9000/bucket") }
        #expect(throws: ValidationError.self) { try S3Client.Endpoint(parsing: "http://minio:0") }
    }

    @Test func anS3ErrorBodyIsParsedAndShown() {
        let body = Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist &amp; never did</Message><BucketName>b</BucketName></Error>
            """.utf8)
        let error = S3Client.answerError(operation: "PUT s3://b/k", status: 404, body: body)
        #expect(error.code == "NoSuchBucket")
        #expect(error.description == "PUT s3://b/k: HTTP 404 NoSuchBucket: The specified bucket does not exist & never did (create the bucket first)")
        #expect(S3Client.answerError(operation: "GET s3://b/k", status: 503, body: []).description == "GET s3://b/k: HTTP 503: Service Unavailable")
    }
}
