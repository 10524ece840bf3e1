import KubeHeroAudit
import KubeHeroS3

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where `audit forward` writes: a directory (``AuditArchive``) or a bucket (``S3AuditArchive``).
public protocol AuditForwardTarget: Sendable {
    /// The next entry index and the largest checkpoint size already stored.
    func resumePoint() async throws -> (nextIndex: UInt64, checkpointSize: UInt64)
    /// Entries starting exactly at the resume point's next index.
    func appendEntries(_ entries: [(recordedLeafHash: TreeHash, entry: AuditEntry)]) async throws
    /// Checkpoints no larger than the entries stored, in increasing size.
    func appendCheckpoints(_ checkpoints: [(size: UInt64, note: String)]) async throws
    func writeKeys(_ keys: [String]) async throws
}

extension AuditArchive: AuditForwardTarget {}

/// An audit log in an S3 bucket, written by `audit forward --s3` and read by `audit verify --s3`.
/// Objects are never rewritten (but for `keys.txt` and `state.json`), so the log is kept as
/// segments under the prefix:
///
/// ```
/// entries/<first index>-<last index>.jsonl   lines exactly as in entries.jsonl (20-digit indexes)
/// checkpoints/<tree size>.json              one checkpoints.jsonl line (20-digit size)
/// keys.txt                                  the hub's verifier keys, as in an export
/// state.json                                {"checkpointSize":S,"nextIndex":N}, after each segment
/// ```
///
/// A forwarder that resumes trusts `state.json`, then lists what lies past it, so that a
/// segment written just before a crash (its state update lost) is neither written twice nor
/// left behind.
public actor S3AuditArchive: AuditForwardTarget {
    public let s3: S3Client
    public let location: S3Location
    /// Entries per segment object.
    public let segmentSize: Int

    private var position: (nextIndex: UInt64, checkpointSize: UInt64)?

    public init(s3: S3Client, location: S3Location, segmentSize: Int = 10_000) {
        self.s3 = s3
        self.location = location
        self.segmentSize = max(1, segmentSize)
    }

    static let entriesFolder = "entries/"
    static let checkpointsFolder = "checkpoints/"
    static let stateName = "state.json"

    static func padded(_ n: UInt64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    static func segmentName(first: UInt64, last: UInt64) -> String { entriesFolder + padded(first) + "-" + padded(last) + ".jsonl" }
    static func checkpointName(size: UInt64) -> String { checkpointsFolder + padded(size) + ".json" }

    /// `(first, last)` of `…/entries/<first>-<last>.jsonl`; nil for another name.
    static func parseSegment(_ name: Substring) -> (first: UInt64, last: UInt64)? {
        guard name.hasSuffix(".jsonl") else { return nil }
        let parts = name.dropLast(6).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 20 }), let first = UInt64(parts[0]), let last = UInt64(parts[1]), first <= last else { return nil }
        return (first, last)
    }

    static func parseCheckpoint(_ name: Substring) -> UInt64? {
        guard name.hasSuffix(".json"), name.count == 25 else { return nil }
        return UInt64(name.dropLast(5))
    }

    /// The objects under `folder`, by their name within it, after `startAfter` (a name in it).
    private func list(_ folder: String, startAfter: String? = nil) async throws -> [Substring] {
        let base = location.key(folder)
        return try await s3.listObjects(bucket: location.bucket, prefix: base, startAfter: startAfter.map { location.key(folder + $0) })
            .map { $0.dropFirst(base.count) }
    }

    private func put(_ name: String, _ bytes: [UInt8], contentType: String) async throws {
        try await s3.putObject(bucket: location.bucket, key: location.key(name), body: bytes, contentType: contentType)
    }

    private func url(_ name: String) -> String { "s3://\(location.bucket)/\(location.key(name))" }

    // MARK: - Forwarding

    public func resumePoint() async throws -> (nextIndex: UInt64, checkpointSize: UInt64) {
        if let position { return position }
        var next: UInt64 = 0, size: UInt64 = 0
        if let bytes = try await s3.getObject(bucket: location.bucket, key: location.key(Self.stateName)) {
            guard case .object(let o)? = try? CanonicalJSON.parse(bytes), let n = o["nextIndex"]?.intValue, let s = o["checkpointSize"]?.intValue, n >= 0, s >= 0 else {
                throw CLIError("\(url(Self.stateName)) is not {\"checkpointSize\":N,\"nextIndex\":N}: is this prefix an audit log forwarded by kubehero?")
            }
            (next, size) = (UInt64(n), UInt64(s))
        }
        // Segments past the state (written before a crash took the state update with it).
        var segments: [(first: UInt64, last: UInt64)] = []
        for name in try await list(Self.entriesFolder, startAfter: Self.padded(next) + "-") {
            if let segment = Self.parseSegment(name) { segments.append(segment) }
        }
        for segment in segments.sorted(by: { $0.first < $1.first }) where segment.last >= next {
            guard segment.first <= next else {
                throw CLIError("\(url(Self.segmentName(first: segment.first, last: segment.last))) starts past entry \(next), which no segment holds: the bucket was changed by something else; forward into a new prefix")
            }
            next = segment.last + 1
        }
        for name in try await list(Self.checkpointsFolder, startAfter: Self.padded(size) + ".json") {
            if let s = Self.parseCheckpoint(name), s <= next { size = max(size, s) }
        }
        position = (next, size)
        return (next, size)
    }

    private func writeState() async throws {
        guard let position else { return }
        let state = CanonicalJSON.encode(.object(["checkpointSize": .int(Int64(position.checkpointSize)), "nextIndex": .int(Int64(position.nextIndex))]))
        try await put(Self.stateName, state + [0x0A], contentType: "application/json")
    }

    public func appendEntries(_ entries: [(recordedLeafHash: TreeHash, entry: AuditEntry)]) async throws {
        var (next, _) = try await resumePoint()
        var start = 0
        while start < entries.count {
            let chunk = entries[start..<min(entries.count, start + segmentSize)]
            let first = chunk.first!.entry.index, last = chunk.last!.entry.index
            guard first == next, last >= first, last - first + 1 == UInt64(chunk.count) else {
                throw CLIError("entries \(first)...\(last) do not continue \(location) at entry \(next)")
            }
            var body: [UInt8] = []
            for e in chunk {
                body += AuditExport.line(leafHash: e.recordedLeafHash, entryBytes: e.entry.bytes)
                body.append(0x0A)
            }
            try await put(Self.segmentName(first: first, last: last), body, contentType: "application/x-ndjson")
            next = last + 1
            position?.nextIndex = next
            try await writeState()
            start += chunk.count
        }
    }

    public func appendCheckpoints(_ checkpoints: [(size: UInt64, note: String)]) async throws {
        let (next, stored) = try await resumePoint()
        var wrote = false
        for c in checkpoints where c.size > (position?.checkpointSize ?? stored) {
            guard c.size <= next else { throw CLIError("checkpoint of size \(c.size) is past the \(next) entries in \(location)") }
            try await put(Self.checkpointName(size: c.size), AuditExport.checkpointLine(note: c.note, size: c.size) + [0x0A], contentType: "application/json")
            position?.checkpointSize = c.size
            wrote = true
        }
        if wrote { try await writeState() }
    }

    public func writeKeys(_ keys: [String]) async throws {
        try await put(AuditExport.keysFile, Array((keys.joined(separator: "\n") + "\n").utf8), contentType: "text/plain")
    }

    // MARK: - Reading

    /// Every entry line and checkpoint note in the bucket, for ``AuditVerifier``. Segments are
    /// read in index order; where one is missing the verifier names the first missing entry.
    public func read() async throws -> (entries: [AuditVerifier.Input], checkpoints: [String]) {
        var segments: [(first: UInt64, last: UInt64)] = []
        for name in try await list(Self.entriesFolder) {
            guard let s = Self.parseSegment(name) else { throw CLIError("\(url(Self.entriesFolder + name)) is not named <first>-<last>.jsonl with 20-digit indexes") }
            segments.append(s)
        }
        guard !segments.isEmpty else {
            throw CLIError("\(url(Self.entriesFolder)) holds no segments: is \(location) an audit log forwarded with kubehero audit forward --s3?")
        }
        // Longest first where two start at the same index; covered ones are skipped.
        segments.sort { $0.first != $1.first ? $0.first < $1.first : $0.last > $1.last }
        var entries: [AuditVerifier.Input] = []
        var next: UInt64 = 0
        for segment in segments where segment.last >= next {
            let name = Self.segmentName(first: segment.first, last: segment.last)
            guard let bytes = try await s3.getObject(bucket: location.bucket, key: location.key(name)) else {
                throw CLIError("\(url(name)) was listed but cannot be read")
            }
            let lines = AuditArchive.lines(of: bytes)
            guard bytes.last == 0x0A, UInt64(lines.count) == segment.last - segment.first + 1 else {
                throw CLIError("\(url(name)) holds \(lines.count) complete lines, its name says \(segment.last - segment.first + 1)")
            }
            let skip = segment.first < next ? Int(next - segment.first) : 0
            entries += lines.dropFirst(skip).map(AuditVerifier.Input.init(exportLine:))
            next = segment.last + 1
        }

        var sizes: [UInt64] = []
        for name in try await list(Self.checkpointsFolder) {
            guard let s = Self.parseCheckpoint(name) else { throw CLIError("\(url(Self.checkpointsFolder + name)) is not named <size>.json with a 20-digit size") }
            sizes.append(s)
        }
        sizes.sort()
        let notes = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var notes = [String](repeating: "", count: sizes.count)
            // A few at a time: one request per checkpoint.
            var launched = 0
            func launch() {
                let (n, name) = (launched, Self.checkpointName(size: sizes[launched]))
                let (s3, bucket, key, shown) = (s3, location.bucket, location.key(name), url(name))
                group.addTask {
                    guard let bytes = try await s3.getObject(bucket: bucket, key: key) else { throw CLIError("\(shown) was listed but cannot be read") }
                    do {
                        return (n, try AuditExport.parseCheckpointLine(AuditArchive.lines(of: bytes).first ?? []))
                    } catch {
                        throw CLIError("\(shown): \(error)")
                    }
                }
                launched += 1
            }
            while launched < min(8, sizes.count) { launch() }
            while let done = try await group.next() {
                notes[done.0] = done.1
                if launched < sizes.count { launch() }
            }
            return notes
        }
        return (entries, notes)
    }
}
