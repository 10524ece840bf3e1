import Foundation
import KubeHeroAudit
import KubeHeroTestSupport
import Testing

@testable import KubeHeroCLI
@testable import KubeHeroS3

/// `kubehero audit forward --s3` and `audit verify --s3` end to end: a real hub, the real
/// `kubehero` binary, and moto's S3 server on loopback checking every signature.
@Suite(.enabled(if: MotoServer.isInstalled, MotoServer.skipReason), .serialized)
struct S3ForwardTests {
    static let bucket = "kubehero-audit"
    static let target = "s3://kubehero-audit/fleet/prod"
    static let prefix = "fleet/prod/"

    @Test func theServerChecksSignaturesAndAWrongSecretIsRejected() async throws {
        try await MotoServer.with { moto in
            let endpoint = try S3Client.Endpoint(parsing: moto.endpoint)
            try await S3Client.withClient(endpoint: endpoint, region: "us-east-1", credentials: moto.credentials) { s3 in
                try await s3.createBucket(Self.bucket)
                try await s3.putObject(bucket: Self.bucket, key: "probe/a b+c=d.txt", body: Array("hello".utf8))
                #expect(try await s3.getObject(bucket: Self.bucket, key: "probe/a b+c=d.txt") == Array("hello".utf8))
                #expect(try await s3.listObjects(bucket: Self.bucket, prefix: "probe/") == ["probe/a b+c=d.txt"])
                #expect(try await s3.getObject(bucket: Self.bucket, key: "probe/missing") == nil)
            }
            var wrong = moto.credentials
            wrong.secretAccessKey += "x"
            try await S3Client.withClient(endpoint: endpoint, region: "us-east-1", credentials: wrong, retry: S3RetryPolicy(attempts: 1)) { s3 in
                do {
                    try await s3.putObject(bucket: Self.bucket, key: "probe/forged.txt", body: Array("forged".utf8))
                    Issue.record("a request signed with the wrong secret was accepted")
                } catch let error as S3Error {
                    #expect(error.status == 403 && error.code == "SignatureDoesNotMatch", "\(error)")
                    #expect(error.description.contains("check AWS_SECRET_ACCESS_KEY"), "\(error)")
                }
            }
        }
    }

    @Test func forwardingResumesAndTheBucketVerifiesWithTheHubsKey() async throws {
        try await Run.with { run in
            try await withTestHub(dataDir: (run.dataDir, run.token), keepDataDir: true) { hub in
                _ = try await hub.registerCluster("a")
                try await run.forward(hub)
                let first = try await run.state()
                _ = try await hub.registerCluster("b")
                try await run.forward(hub)
                let second = try await run.state()
                #expect(second.nextIndex == first.nextIndex + 2)  // register, issue
            }
            let state = try await run.state()
            let segments = try await run.segments()
            #expect(segments.count == 2)
            #expect(segments.first?.first == 0 && segments.last?.last == state.nextIndex - 1)
            for (a, b) in zip(segments, segments.dropFirst()) { #expect(b.first == a.last + 1, "\(segments)") }
            let checkpoints = try await run.s3 { try await $0.listObjects(bucket: Self.bucket, prefix: Self.prefix + "checkpoints/") }
            #expect(!checkpoints.isEmpty)
            let sizes = checkpoints.compactMap { S3AuditArchive.parseCheckpoint($0.dropFirst(Self.prefix.count + 12)) }
            #expect(sizes.count == checkpoints.count && sizes.allSatisfy { $0 <= state.nextIndex }, "\(checkpoints)")
            #expect(try await run.s3 { try await $0.getObject(bucket: Self.bucket, key: Self.prefix + "keys.txt") } != nil)

            let verified = try await run.kubehero(["audit", "verify", "--s3", Self.target] + run.s3Flags + ["--key", run.pub])
            #expect(verified.status == 0, "\(verified.stderr)")
            #expect(verified.stdout.contains("verified \(state.nextIndex) entries"), "\(verified.stdout)")

            // A recorded hash changed in the bucket is found, with its index.
            let name = Self.prefix + S3AuditArchive.segmentName(first: segments[1].first, last: segments[1].last)
            var bytes = try #require(try await run.s3 { try await $0.getObject(bucket: Self.bucket, key: name) })
            let at = "{\"leafHash\":\"".utf8.count
            bytes[at] = bytes[at] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            try await run.s3 { try await $0.putObject(bucket: Self.bucket, key: name, body: bytes) }
            let tampered = try await run.kubehero(["audit", "verify", "--s3", Self.target] + run.s3Flags + ["--key", run.pub])
            #expect(tampered.status != 0)
            #expect(tampered.stderr.contains("verification failed at index \(segments[1].first)"), "\(tampered.stderr)")
        }
    }

    @Test func aSegmentWrittenWithoutItsStateUpdateIsNeitherLostNorWrittenTwice() async throws {
        try await Run.with { run in
            try await withTestHub(dataDir: (run.dataDir, run.token), keepDataDir: true) { hub in
                _ = try await hub.registerCluster("a")
                try await run.forward(hub)
                let stale = try #require(try await run.s3 { try await $0.getObject(bucket: Self.bucket, key: Self.prefix + "state.json") })
                _ = try await hub.registerCluster("b")
                try await run.forward(hub)
                // The forwarder died after the segment, before its state: state.json is one step behind.
                try await run.s3 { try await $0.putObject(bucket: Self.bucket, key: Self.prefix + "state.json", body: stale) }
                _ = try await hub.registerCluster("c")
                try await run.forward(hub)
                // And once with no state at all.
                try await run.s3 { try await $0.deleteObject(bucket: Self.bucket, key: Self.prefix + "state.json") }
                _ = try await hub.registerCluster("d")
                try await run.forward(hub)
            }
            let segments = try await run.segments()
            #expect(segments.count == 4, "\(segments)")
            for (a, b) in zip(segments, segments.dropFirst()) { #expect(b.first == a.last + 1, "overlap or gap: \(segments)") }
            #expect(try await run.state().nextIndex == segments.last!.last + 1)
            let verified = try await run.kubehero(["audit", "verify", "--s3", Self.target] + run.s3Flags + ["--key", run.pub])
            #expect(verified.status == 0, "\(verified.stderr)")
        }
    }

}

/// What `audit forward --s3` says about its flags and environment (no server needed).
@Suite struct S3ForwardFlagTests {
    static let target = S3ForwardTests.target

    @Test func badS3FlagsAndMissingCredentialsAreNamed() async throws {
        let noCredentials = try await Run.kubehero(["audit", "forward", "--hub", "https://127.0.0.1:1", "--token", "t", "--s3", Self.target, "--s3-endpoint", "http://127.0.0.1:1", "--once"], environment: [:])
        #expect(noCredentials.status != 0)
        #expect(noCredentials.stderr.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"), "\(noCredentials.stderr)")
        let badURL = try await Run.kubehero(["audit", "forward", "--s3", "s3://Bad_Bucket/x", "--once"], environment: [:])
        #expect(badURL.status != 0)
        #expect(badURL.stderr.contains("--s3: bucket name \"Bad_Bucket\""), "\(badURL.stderr)")
        let both = try await Run.kubehero(["audit", "forward", "--s3", Self.target, "--dir", "/tmp/x", "--once"], environment: [:])
        #expect(both.stderr.contains("give one of --dir DIR and --s3"), "\(both.stderr)")
    }
}

/// One test's hub data dir, bucket and credentials.
struct Run: Sendable {
    let endpoint: String
    let credentials: AWSCredentials
    let dataDir: String
    let token: String
    var pub: String { dataDir + "/audit-log.pub" }
    var s3Flags: [String] { ["--s3-endpoint", endpoint, "--s3-region", "us-east-1"] }
    var environment: [String: String] {
        [AWSCredentials.accessKeyVariable: credentials.accessKeyID, AWSCredentials.secretKeyVariable: credentials.secretAccessKey]
    }

    init(moto: MotoServer) async throws {
        endpoint = moto.endpoint
        credentials = moto.credentials
        (dataDir, token) = try await TestHub.makeDataDir()
        try await s3 { try await $0.createBucket(S3ForwardTests.bucket) }
    }

    /// A moto server, a bucket in it, and a hub data dir, for the length of `body`.
    static func with(_ body: (Run) async throws -> Void) async throws {
        try await MotoServer.with { moto in
            let run = try await Run(moto: moto)
            defer { try? FileManager.default.removeItem(atPath: run.dataDir) }
            try await body(run)
        }
    }

    func s3<R>(_ body: (S3Client) async throws -> R) async throws -> R {
        try await S3Client.withClient(endpoint: try S3Client.Endpoint(parsing: endpoint), region: "us-east-1", credentials: credentials, body)
    }

    /// `kubehero audit forward --once` into the bucket, after the hub's next checkpoint.
    func forward(_ hub: TestHub) async throws {
        try await hub.withClient { client in
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline {
                let size = try await client.auditEntries(.init(limit: 1, newestFirst: true)).treeSize
                if try await client.auditCheckpoints(fromSize: size, limit: 1).first != nil { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw CLIError("no checkpoint covered the whole log within 15 s")
        }
        let result = try await kubehero(["audit", "forward", "--hub", hub.apiURL, "--token", token, "--ca-file", hub.caFile, "--s3", S3ForwardTests.target] + s3Flags + ["--once"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    func state() async throws -> (nextIndex: UInt64, checkpointSize: UInt64) {
        let bytes = try #require(try await s3 { try await $0.getObject(bucket: S3ForwardTests.bucket, key: S3ForwardTests.prefix + "state.json") })
        let value = try CanonicalJSON.parse(bytes)
        return (UInt64(try #require(value["nextIndex"]?.intValue)), UInt64(try #require(value["checkpointSize"]?.intValue)))
    }

    func segments() async throws -> [(first: UInt64, last: UInt64)] {
        let folder = S3ForwardTests.prefix + "entries/"
        return try await s3 { try await $0.listObjects(bucket: S3ForwardTests.bucket, prefix: folder) }
            .map { try #require(S3AuditArchive.parseSegment($0.dropFirst(folder.count)), "\($0)") }
    }

    func kubehero(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await Self.kubehero(arguments, environment: environment)
    }

    /// The real binary, on a thread of its own (runProduct blocks until it exits).
    static func kubehero(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        var env = environment
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] where env[name] == nil { env[name] = "" }
        let fixed = env
        return try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try runProduct("kubehero", arguments, environment: fixed) }) }.start()
        }
    }
}
