import ArgumentParser
import KubeHeroAudit
import KubeHeroCore
import KubeHeroS3

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

/// `kubehero audit`: read, verify, export and forward the hub's signed audit log.
public struct AuditCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read, verify, export and forward the hub's signed audit log.",
        subcommands: [AuditListCommand.self, AuditTailCommand.self, AuditVerifyCommand.self, AuditExportCommand.self, AuditForwardCommand.self]
    )

    public init() {}
}

/// One entry as `-o json|yaml` shows it.
struct AuditEntryView: Encodable {
    var index: UInt64
    var time: String
    var actor: String
    var action: String
    var subject: String
    var details: JSONValue
    var leafHash: String

    init(_ e: AuditEntry, leafHash: TreeHash) {
        index = e.index
        time = Timestamp.rfc3339(millis: e.timeMillis)
        actor = e.actor.description
        action = e.action.rawValue
        subject = e.subject
        details = .object(e.details)
        self.leafHash = leafHash.hex
    }

    static func table(_ entries: [AuditEntryView]) -> String {
        var table = TextTable(columns: [.init("INDEX", alignment: .right), .init("TIME"), .init("ACTOR"), .init("ACTION"), .init("SUBJECT"), .init("DETAILS")])
        for e in entries {
            var details = String(decoding: CanonicalJSON.encode(e.details), as: UTF8.self)
            if details.count > 80 { details = String(details.prefix(77)) + "..." }
            table.rows.append(["\(e.index)", e.time, e.actor, e.action, e.subject, details == "{}" ? "" : details])
        }
        return table.render()
    }
}

/// `--action`, `--actor`, `--since`, `--until`.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: "Only this action (cluster.register, token.create, certificate.rotate, agent.gap, ...).") var action: String?
    @Option(help: "Only this actor: hub, token:ID or cluster:NAME.") var actor: String?
    @Option(help: "Only entries at or after this RFC 3339 time, or this long ago (24h).") var since: String?
    @Option(help: "Only entries before this RFC 3339 time, or this long ago.") var until: String?

    func check() throws(KubeHeroCore.ValidationError) {
        if let actor, AuditActor(parsing: actor) == nil {
            throw KubeHeroCore.ValidationError(field: "--actor", "\"\(actor)\" is not hub, token:ID or cluster:NAME")
        }
        _ = try time(since, "--since")
        _ = try time(until, "--until")
    }

    /// An RFC 3339 time, or a duration before now.
    func time(_ text: String?, _ flag: String) throws(KubeHeroCore.ValidationError) -> String? {
        guard let text else { return nil }
        if Timestamp.parseRFC3339(text) != nil { return text }
        let ago = try DurationText.parseMillis(text, field: flag)
        return Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000) - ago)
    }

    func query(limit: Int?, newestFirst: Bool = false) throws -> HubClient.AuditEntriesQuery {
        HubClient.AuditEntriesQuery(
            limit: limit, action: action, actor: actor, since: try time(since, "--since"), until: try time(until, "--until"), newestFirst: newestFirst
        )
    }
}

public struct AuditListCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List audit entries, oldest first.")

    @OptionGroup public var global: GlobalOptions
    @OptionGroup var filter: AuditFilterOptions
    @Option(help: "Start at this index.") var from: UInt64 = 0
    @Option(help: "At most this many entries (1-10000).") var limit = 100
    @OptionGroup public var output: OutputOptions

    public init() {}

    public func validate() throws {
        try checkFlags {
            try filter.check()
            guard (1...10_000).contains(limit) else { throw KubeHeroCore.ValidationError(field: "--limit", "must be 1 to 10000") }
        }
    }

    public func run() async throws {
        var query = try filter.query(limit: limit)
        query.from = from
        let page = try await HubClient.withClient(try global.resolve()) { try await $0.auditEntries(query) }
        let views = page.entries.map { AuditEntryView($0.entry, leafHash: $0.recordedLeafHash) }
        print(try StructuredOutput.render(views, as: output.output, table: AuditEntryView.table))
    }
}

public struct AuditTailCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "tail", abstract: "Show the newest audit entries; --follow keeps printing new ones.")

    @OptionGroup public var global: GlobalOptions
    @OptionGroup var filter: AuditFilterOptions
    @Option(name: .shortAndLong, help: "How many of the newest entries to show first.") var lines = 20
    @Flag(name: .shortAndLong, help: "Keep polling (every second) and print new entries until interrupted.") var follow = false

    public init() {}

    public func validate() throws {
        try checkFlags {
            try filter.check()
            guard (0...10_000).contains(lines) else { throw KubeHeroCore.ValidationError(field: "--lines", "must be 0 to 10000") }
        }
    }

    public func run() async throws {
        try await HubClient.withClient(try global.resolve()) { hub in
            var next: UInt64
            if lines > 0 {
                let page = try await hub.auditEntries(try filter.query(limit: lines, newestFirst: true))
                let views = page.entries.reversed().map { AuditEntryView($0.entry, leafHash: $0.recordedLeafHash) }
                if !views.isEmpty { print(AuditEntryView.table(views)) }
                next = page.treeSize
            } else {
                next = try await hub.auditEntries(HubClient.AuditEntriesQuery(limit: 1, newestFirst: true)).treeSize
            }
            while follow {
                try await Task.sleep(for: .seconds(1))
                var query = try filter.query(limit: 1000)
                query.from = next
                let page = try await hub.auditEntries(query)
                for e in page.entries {
                    print(AuditEntryView.table([AuditEntryView(e.entry, leafHash: e.recordedLeafHash)]).split(separator: "\n").dropFirst().joined())
                }
                next = page.entries.last.map { $0.entry.index + 1 } ?? next
            }
        }
    }
}

/// Verifier keys from `--key` values: a key (`name+hash+base64`) or a file of keys, one per line.
public func loadVerifierKeys(_ values: [String]) throws -> [LogVerifierKey] {
    var keys: [LogVerifierKey] = []
    for value in values {
        let texts: [String]
        if FileManager.default.fileExists(atPath: value) {
            guard let data = FileManager.default.contents(atPath: value) else { throw CLIError("cannot read --key file \(value)") }
            texts = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        } else {
            texts = [value]
        }
        for t in texts {
            do {
                keys.append(try LogVerifierKey(t))
            } catch {
                throw CLIError("--key \(value): \(error)")
            }
        }
    }
    return keys
}

public struct AuditVerifyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the audit log: recompute the Merkle tree, check every checkpoint's signature and their consistency.",
        discussion: """
            Offline with --dir (an export) and --key; online against the hub otherwise. Exits \
            non-zero naming the first bad index and why: hash mismatch, missing entry, entry out \
            of order, bad signature, unknown key, fork.
            """
    )

    @OptionGroup public var global: GlobalOptions
    @Option(help: ArgumentHelp("Verify this export directory instead of the hub's log (offline).", valueName: "dir")) var dir: String?
    @Option(help: ArgumentHelp("Verify the log that audit forward --s3 wrote to this bucket and prefix (offline).", valueName: "s3://bucket/prefix")) var s3: String?
    @OptionGroup var s3Options: S3Options
    @Option(help: ArgumentHelp("A verifier key (name+hash+base64) or a file of them, e.g. the hub's audit-log.pub. Repeatable. Required with --dir and --s3; online, the hub's own keys are used without it.", valueName: "key")) var key: [String] = []

    public init() {}

    public func validate() throws {
        if dir != nil, s3 != nil { throw ArgumentParser.ValidationError("--dir and --s3 are two places to read; give one") }
        if let flag = dir != nil ? "--dir" : s3 != nil ? "--s3" : nil, key.isEmpty {
            throw ArgumentParser.ValidationError("\(flag) needs --key: an offline check must use a key you trust, e.g. the hub's DATA_DIR/audit-log.pub")
        }
        try checkFlags { if let s3 { _ = try S3Location(parsing: s3) } }
    }

    public func run() async throws {
        var keys = try loadVerifierKeys(key)
        let entries: [AuditVerifier.Input]
        let notes: [String]
        if let dir {
            (entries, notes) = try AuditArchive(directory: dir).read()
        } else if let s3 {
            let location = try S3Location(parsing: s3)
            (entries, notes) = try await s3Options.withClient { try await S3AuditArchive(s3: $0, location: location).read() }
        } else {
            let (snapshot, hubKeys) = try await HubClient.withClient(try global.resolve()) { hub in
                (try await hub.auditSnapshot(), try await hub.auditKeys())
            }
            if keys.isEmpty {
                keys = try loadVerifierKeys(hubKeys.keys)
                printErr("note: trusting the keys the hub serves; pass --key with its audit-log.pub for an independent check")
            }
            entries = snapshot.entries.map { AuditVerifier.Input(recordedLeafHash: $0.recordedLeafHash, bytes: $0.entry.bytes) }
            notes = snapshot.checkpoints.map(\.note)
        }
        switch AuditVerifier(keys: keys).verify(entries: entries, checkpointNotes: notes) {
        case .success(let v):
            print("verified \(v.entries) entries and \(v.checkpoints) checkpoints: tree size \(v.verifiedSize), root \(v.verifiedRoot.hex)")
            print("signed by \(v.keysUsed.isEmpty ? "no key (no checkpoints)" : v.keysUsed.joined(separator: ", "))")
            if v.uncoveredEntries > 0 { print("\(v.uncoveredEntries) newest entries are not yet covered by a checkpoint") }
        case .failure(let problem):
            throw CLIError("audit log verification failed at \(problem)")
        }
    }
}

public struct AuditExportCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the audit log (entries.jsonl, checkpoints.jsonl, keys.txt) to a directory."
    )

    @OptionGroup public var global: GlobalOptions
    @Option(help: ArgumentHelp("Directory to write; must be empty or not exist.", valueName: "dir")) var to: String

    public init() {}

    public func run() async throws {
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: to), !contents.isEmpty {
            throw CLIError("\(to) is not empty; export into a new directory")
        }
        let (snapshot, keys) = try await HubClient.withClient(try global.resolve()) { hub in
            (try await hub.auditSnapshot(), try await hub.auditKeys())
        }
        let archive = AuditArchive(directory: to)
        _ = try archive.resumePoint()
        try archive.appendEntries(snapshot.entries)
        try archive.appendCheckpoints(snapshot.checkpoints.map { ($0.size, $0.note) })
        try archive.writeKeys(keys.keys)
        print("exported \(snapshot.entries.count) entries and \(snapshot.checkpoints.count) checkpoints to \(to)")
    }
}

public struct AuditForwardCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Copy the audit log continuously to a directory or an S3 bucket; resumes where it stopped.",
        discussion: """
            --dir DIR is always a valid export (kubehero audit verify --dir DIR --key ...). \
            --s3 s3://bucket/prefix writes immutable segments (entries/FIRST-LAST.jsonl, \
            checkpoints/SIZE.json), keys.txt and state.json, signed with AWS Signature Version 4; \
            credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. \
            Verify it with kubehero audit verify --s3 s3://bucket/prefix --key ....
            """
    )

    @OptionGroup public var global: GlobalOptions
    @Option(help: ArgumentHelp("Directory to keep in step with the log.", valueName: "dir")) var dir: String?
    @Option(help: ArgumentHelp("Bucket and prefix to keep in step with the log.", valueName: "s3://bucket/prefix")) var s3: String?
    @OptionGroup var s3Options: S3Options
    @Option(help: "How often to poll the hub.") var interval = "5s"
    @Flag(help: "Forward what is there now, then exit.") var once = false

    public init() {}

    public func validate() throws {
        guard (dir == nil) != (s3 == nil) else { throw ArgumentParser.ValidationError("give one of --dir DIR and --s3 s3://bucket/prefix") }
        try checkFlags {
            _ = try DurationText.parseMillis(interval, field: "--interval")
            if let s3 { _ = try S3Location(parsing: s3) }
        }
    }

    public func run() async throws {
        let pause = try DurationText.parseMillis(interval, field: "--interval")
        if let dir {
            try await forward(into: AuditArchive(directory: dir), named: dir, pause: pause)
        } else if let s3 {
            let location = try S3Location(parsing: s3)
            try await s3Options.withClient { client in
                try await forward(into: S3AuditArchive(s3: client, location: location), named: location.description, pause: pause)
            }
        }
    }

    /// The first round's failure ends the command (a wrong flag or credential shows at once);
    /// later ones are reported and tried again next round, so a forwarder outlives outages.
    func forward(into target: some AuditForwardTarget, named name: String, pause: Int64) async throws {
        try await HubClient.withClient(try global.resolve()) { hub in
            try await target.writeKeys(try await hub.auditKeys().keys)
            let forwarder = AuditForwarder(hub: hub, archive: target)
            var round = 0
            // Kept between rounds so that the target is read once, not every round; forgotten
            // after an error, which may have left a partial write behind.
            var position: (nextIndex: UInt64, checkpointSize: UInt64)?
            while true {
                round += 1
                do {
                    let forwarded = try await forwarder.step(from: position)
                    position = forwarded.position
                    if forwarded.entries + forwarded.checkpoints > 0 {
                        print("forwarded \(forwarded.entries) entries and \(forwarded.checkpoints) checkpoints to \(name) (now \(forwarded.position.nextIndex) entries)")
                    }
                } catch where round > 1 && !(error is CancellationError) {
                    position = nil
                    printErr("\(ErrorLine.render(error)); trying again in \(interval)")
                }
                if once { return }
                try await Task.sleep(for: .milliseconds(pause))
            }
        }
    }
}

/// `--s3-endpoint`, `--s3-region` and the credentials in the environment.
struct S3Options: ParsableArguments {
    @Option(name: .customLong("s3-endpoint"), help: ArgumentHelp("An S3-compatible server (scheme://host[:port]), addressed path-style. Default: https://s3.REGION.amazonaws.com.", valueName: "url"))
    var endpoint: String?
    @Option(name: .customLong("s3-region"), help: ArgumentHelp("The bucket's region. Default: AWS_REGION, then AWS_DEFAULT_REGION; us-east-1 with --s3-endpoint.", valueName: "region"))
    var region: String?

    static let regionVariables = ["AWS_REGION", "AWS_DEFAULT_REGION"]

    /// Endpoint, region and credentials, or an error naming the flag or variable at fault.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(KubeHeroCore.ValidationError) -> (S3Client.Endpoint, String, AWSCredentials) {
        var resolved: (value: String, source: String)?
        if let region { resolved = (region, "--s3-region") }
        for name in Self.regionVariables where resolved == nil {
            if let value = environment[name], !value.isEmpty { resolved = (value, name) }
        }
        if resolved == nil, endpoint != nil { resolved = ("us-east-1", "--s3-region") }
        guard let resolved else {
            throw KubeHeroCore.ValidationError(field: "--s3-region", "no region: pass --s3-region or set AWS_REGION")
        }
        try S3Client.checkRegion(resolved.value, field: resolved.source)
        let url: S3Client.Endpoint
        if let endpoint { url = try S3Client.Endpoint(parsing: endpoint) } else { url = .aws(region: resolved.value) }
        return (url, resolved.value, try AWSCredentials(environment: environment))
    }

    func withClient<R>(isolation: isolated (any Actor)? = #isolation, _ body: (S3Client) async throws -> R) async throws -> R {
        let (endpoint, region, credentials) = try resolve()
        return try await S3Client.withClient(endpoint: endpoint, region: region, credentials: credentials, body)
    }
}

/// One round of `audit forward`: whatever the hub has past what the target holds.
public struct AuditForwarder<Target: AuditForwardTarget>: Sendable {
    public let hub: HubClient
    public let archive: Target

    public init(hub: HubClient, archive: Target) {
        self.hub = hub
        self.archive = archive
    }

    /// Where the target stands: the next entry index and the largest checkpoint size it holds.
    public typealias Position = (nextIndex: UInt64, checkpointSize: UInt64)

    /// One round from `position` (read from the target when nil, as after a start or an error);
    /// returns what it wrote and the position after it, for the next round.
    public func step(from position: Position? = nil) async throws -> (entries: Int, checkpoints: Int, position: Position) {
        let start: Position
        if let position { start = position } else { start = try await archive.resumePoint() }
        let (nextIndex, checkpointSize) = start
        // Checkpoints first, then the entries: everything a written checkpoint covers is in the
        // log by the time the entries are read.
        var checkpoints = try await hub.allAuditCheckpoints(fromSize: checkpointSize + 1)
        let entries = try await hub.allAuditEntries(from: nextIndex)
        for (n, e) in entries.enumerated() where e.entry.index != nextIndex + UInt64(n) {
            throw CLIError("the hub sent entry \(e.entry.index) where \(nextIndex + UInt64(n)) was expected")
        }
        try await archive.appendEntries(entries)
        let total = nextIndex + UInt64(entries.count)
        checkpoints = checkpoints.filter { $0.size <= total }
        try await archive.appendCheckpoints(checkpoints.map { ($0.size, $0.note) })
        return (entries.count, checkpoints.count, (total, checkpoints.last?.size ?? checkpointSize))
    }
}

func printErr(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
