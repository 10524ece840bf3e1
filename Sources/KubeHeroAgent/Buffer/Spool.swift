import KubeHeroWire
import Logging
import Synchronization

// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
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

/// How much disk the spool may use.
public struct SpoolLimits: Sendable, Hashable {
    /// Total size of all segments. Over it, the oldest segment is dropped (and its
    /// unacknowledged batches counted as dropped).
    public var maxBytes: Int
    /// A segment is closed and a new one started once it would grow past this (at most half
    /// of `maxBytes`, so that dropping the oldest segment always makes room).
    public var segmentBytes: Int

    public init(maxBytes: Int = 256 << 20, segmentBytes: Int = 4 << 20) {
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
    }
}

/// A record read back from the spool: one encoded batch and its sequence number.
public struct SpoolRecord: Sendable, Hashable {
    public var sequence: UInt64
    public var payload: [UInt8]

    public init(sequence: UInt64, payload: [UInt8]) {
        self.sequence = sequence
        self.payload = payload
    }
}

/// What opening the spool found.
public struct SpoolRecoveryReport: Sendable, Hashable {
    /// Segment files kept.
    public var segments = 0
    /// Records still waiting for an acknowledgement.
    public var unacknowledgedRecords = 0
    /// Highest sequence below which everything was acknowledged, from the `acked` file.
    public var acknowledgedThrough: UInt64 = 0
    /// Bytes cut off segments: torn tails and everything after a damaged record.
    public var truncatedBytes = 0
    /// Unacknowledged records lost to damage in the middle of a segment (not torn tails:
    /// a torn record was never reported as written).
    public var droppedRecords: UInt64 = 0
    /// Each torn tail, damaged record or unreadable file, in the order found.
    public var problems: [SpoolError] = []
}

/// The spool's state for metrics.
public struct SpoolStats: Sendable, Hashable {
    public var segments: Int
    public var bytes: Int
    public var unacknowledgedRecords: Int
    /// Unacknowledged records dropped to stay within `maxBytes` since the spool was opened.
    public var droppedRecords: UInt64
}

/// A bounded on-disk queue of encoded batches, so that an agent restarted after a crash, or
/// one cut off from its hub for longer than its memory holds, loses nothing.
///
/// ```
/// DIR/lock                 held (flock) while an agent uses the directory
/// DIR/agent.json           {"agentInstanceID": "..."}: the same id after every restart
/// DIR/spool-<seq>.log      segments, named by their first sequence, records appended
/// DIR/acked                highest sequence up to which everything was acknowledged
/// DIR/dropped              drop counts not yet reported to the hub: "<batches> <samples>"
/// ```
///
/// Records are described in `SpoolRecordFormat`. Each append is written with one `pwrite`
/// and made durable with `fdatasync` before `append` returns, so a batch that was handed to
/// the shipper survives `kill -9` and power loss. Opening the spool checks every record
/// (magic, length, CRC-32C, ascending sequence), cuts torn tails off, skips the rest of a
/// segment after a damaged record, and logs what it dropped.
///
/// Every method blocks on file I/O: call them from a thread pool or a dedicated thread
/// (`NIOThreadPool`), never from an event loop. The methods are thread-safe.
///
/// ```swift
/// let spool = try Spool(directory: "/var/lib/kubehero/spool", logger: logger)
/// let (agentID, nextSequence) = spool.identity()
/// try spool.append(sequence: nextSequence, payload: bytes)
/// try spool.acknowledge(sequence: nextSequence)
/// ```
public final class Spool: Sendable {
    public let directory: String
    public let limits: SpoolLimits
    /// What opening the directory found.
    public let recoveryReport: SpoolRecoveryReport

    private let agentInstanceID: String
    private let logger: Logger
    // All file descriptors and the index live behind this lock; calls into the spool are
    // serialised, which is what the single writer (the agent's buffer) needs anyway.
    private let state: Mutex<State>

    struct Segment {
        var firstSequence: UInt64
        var path: String
        var size: Int
        /// Records in it not yet acknowledged.
        var live: Int
    }

    /// Where an unacknowledged record is.
    struct Entry {
        var sequence: UInt64
        var segment: UInt64
        var offset: Int
        var length: Int
    }

    struct State {
        var lock: PosixFile?
        /// The last segment, open for appending; nil until the first append after opening
        /// (records are never appended to a recovered segment unless it is empty) and after a
        /// failed write.
        var active: PosixFile?
        var segments: [Segment]
        var records: [Entry]
        var nextSequence: UInt64
        var persistedAckedThrough: UInt64
        var bytes: Int
        var droppedRecords: UInt64 = 0
        var dropCounts: (batches: UInt64, samples: UInt64)
    }

    /// Opens (creating if needed) the spool in `directory` and recovers what it holds; see
    /// `recoveryReport`. Fails when another process uses the directory.
    public init(directory: String, limits: SpoolLimits = SpoolLimits(), logger: Logger = Logger(label: "kubehero.agent.spool")) throws(SpoolError) {
        var logger = logger
        logger[metadataKey: "spool"] = "\(directory)"
        self.directory = directory
        self.limits = limits
        self.logger = logger

        try PosixFile.makeDirectory(directory)
        let lockPath = directory + "/lock"
        let lock = try PosixFile(opening: lockPath, O_RDWR | O_CREAT)
        if flock(lock.fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            lock.close()
            if code == EWOULDBLOCK {
                throw SpoolError(.locked, path: directory, "is in use by another agent process (it holds \(lockPath))")
            }
            throw .io("lock", path: lockPath, errno: code)
        }
        var recovery = Recovery(directory: directory, logger: logger)
        do throws(SpoolError) {
            try recovery.run()
        } catch {
            lock.close()
            throw error
        }
        agentInstanceID = recovery.agentInstanceID
        recoveryReport = recovery.report
        state = Mutex(State(
            lock: lock, active: nil, segments: recovery.segments, records: recovery.records,
            nextSequence: recovery.nextSequence, persistedAckedThrough: recovery.report.acknowledgedThrough,
            bytes: recovery.segments.reduce(0) { $0 + $1.size }, dropCounts: recovery.dropCounts
        ))
        logger.info("opened spool", metadata: [
            "segments": "\(recoveryReport.segments)", "unacknowledged": "\(recoveryReport.unacknowledgedRecords)",
            "next_sequence": "\(recovery.nextSequence)", "agent": "\(agentInstanceID)",
        ])
    }

    deinit {
        close()
    }

    /// Closes the files and releases the directory; later calls fail with `.closed`.
    public func close() {
        state.withLock { state in
            state.active?.close()
            state.active = nil
            state.lock?.close()
            state.lock = nil
        }
    }

    /// The agent instance id kept in `agent.json` (made on first use), and the first sequence
    /// number not used by anything this spool ever held. A restarted agent carries on with
    /// both, so the hub recognises re-sent batches.
    public func identity() -> (agentInstanceID: String, nextSequence: UInt64) {
        (agentInstanceID, state.withLock { $0.nextSequence })
    }

    /// Sequences of the unacknowledged records, oldest first.
    public func unacknowledgedSequences() -> [UInt64] {
        state.withLock { $0.records.map(\.sequence) }
    }

    /// All unacknowledged records, oldest first, read back from disk. For a large spool
    /// prefer `unacknowledgedSequences()` and `read(sequence:)`, which hold one at a time.
    public func recover() throws(SpoolError) -> [SpoolRecord] {
        var result = [SpoolRecord]()
        for sequence in unacknowledgedSequences() {
            if let payload = try read(sequence: sequence) {
                result.append(SpoolRecord(sequence: sequence, payload: payload))
            }
        }
        return result
    }

    /// The payload of the unacknowledged record `sequence`, checked again; nil when there is
    /// none (acknowledged, dropped, or never spooled).
    public func read(sequence: UInt64) throws(SpoolError) -> [UInt8]? {
        try state.withLock { (state) throws(SpoolError) -> [UInt8]? in
            guard state.lock != nil else { throw SpoolError(.closed, path: directory, "is closed") }
            guard let i = state.records.index(of: sequence) else { return nil }
            let entry = state.records[i]
            let path = segmentPath(entry.segment)
            let file = try PosixFile(opening: path, O_RDONLY)
            defer { file.close() }
            let bytes = try file.read(count: SpoolRecordFormat.headerSize + entry.length, at: Int64(entry.offset))
            let payload = Array(bytes.dropFirst(SpoolRecordFormat.headerSize))
            if bytes.count < SpoolRecordFormat.headerSize + entry.length {
                throw SpoolError(.corruptRecord, path: path, offset: Int64(entry.offset), "record \(sequence) at offset \(entry.offset) is cut short")
            }
            let header = SpoolRecordFormat.Header(bytes)
            if header.problem != nil || header.sequence != sequence || header.length != entry.length
                || header.checksum != SpoolRecordFormat.checksum(sequence: sequence, payload: payload) {
                throw SpoolError(.corruptRecord, path: path, offset: Int64(entry.offset), "record \(sequence) at offset \(entry.offset) changed on disk since it was written")
            }
            return payload
        }
    }

    /// Appends one record and makes it durable. `sequence` must be at least
    /// `identity().nextSequence`. Returns the sequences of unacknowledged records dropped (with
    /// their oldest segments) to stay within `limits.maxBytes`, oldest first.
    ///
    /// When the write or the fsync fails, nothing is added (the sequence counts as used) and
    /// the next append starts a new segment, so a half-written record cannot hide later ones.
    @discardableResult
    public func append(sequence: UInt64, payload: [UInt8]) throws(SpoolError) -> [UInt64] {
        try state.withLock { (state) throws(SpoolError) -> [UInt64] in
            guard state.lock != nil else { throw SpoolError(.closed, path: directory, "is closed") }
            guard sequence >= state.nextSequence else {
                throw SpoolError(.sequenceOutOfOrder, path: directory, "cannot append sequence \(sequence): the spool already used sequences up to \(state.nextSequence - 1)")
            }
            guard payload.count <= SpoolRecordFormat.maxPayloadBytes else {
                throw SpoolError(.recordTooLarge, path: directory, "cannot append sequence \(sequence): \(payload.count) bytes is more than the \(SpoolRecordFormat.maxPayloadBytes) a record may hold")
            }
            state.nextSequence = sequence + 1
            let record = SpoolRecordFormat.encode(sequence: sequence, payload: payload)
            let segmentBytes = max(1, min(limits.segmentBytes, limits.maxBytes / 2))

            if let last = state.segments.last, state.active != nil, last.size > 0, last.size + record.count > segmentBytes {
                state.active?.close()
                state.active = nil
            }
            var firstError: SpoolError?
            if state.active == nil {
                if let last = state.segments.last, last.size == 0 {
                    // An empty last segment (recovered, or left by a failed write): carry on in it.
                    state.active = try PosixFile(opening: last.path, O_RDWR)
                } else {
                    let path = segmentPath(sequence)
                    state.active = try PosixFile(opening: path, O_RDWR | O_CREAT | O_EXCL)
                    state.segments.append(Segment(firstSequence: sequence, path: path, size: 0, live: 0))
                }
                do throws(SpoolError) {
                    try PosixFile.syncDirectory(directory)
                } catch {
                    firstError = error
                }
                // The segment before may now be deletable: it is no longer the last one.
                if let error = removeAcknowledgedSegments(&state) { firstError = firstError ?? error }
            }
            var dropped = [UInt64]()
            while state.bytes + record.count > limits.maxBytes, state.segments.count > 1 {
                dropped += dropOldestSegment(&state)
            }
            if let error = firstError {
                // Without a durable directory entry the record would not survive a crash.
                state.active?.close()
                state.active = nil
                throw error
            }

            let last = state.segments.count - 1
            let offset = state.segments[last].size
            do throws(SpoolError) {
                guard let file = state.active else { throw SpoolError(.closed, path: directory, "has no open segment") }
                try file.write(record, at: Int64(offset))
                try file.sync()
            } catch {
                try? state.active?.truncate(to: Int64(offset))
                state.active?.close()
                state.active = nil
                throw error
            }
            state.segments[last].size += record.count
            state.segments[last].live += 1
            state.bytes += record.count
            state.records.append(Entry(sequence: sequence, segment: state.segments[last].firstSequence, offset: offset, length: payload.count))
            return dropped
        }
    }

    /// Marks `sequence` acknowledged (or given up on): it is not returned after a restart.
    /// Segments left with nothing unacknowledged are deleted, and the `acked` file is
    /// rewritten when the contiguously acknowledged prefix grows. Unknown sequences are
    /// ignored. An error means the spool may resend the record after a restart, which the
    /// hub recognises as a duplicate.
    public func acknowledge(sequence: UInt64) throws(SpoolError) {
        try state.withLock { (state) throws(SpoolError) in
            guard state.lock != nil else { throw SpoolError(.closed, path: directory, "is closed") }
            guard let i = state.records.index(of: sequence) else { return }
            let entry = state.records.remove(at: i)
            if let s = state.segments.firstIndex(where: { $0.firstSequence == entry.segment }) {
                state.segments[s].live -= 1
            }
            let removeError = removeAcknowledgedSegments(&state)
            let through = state.records.first.map { $0.sequence - 1 } ?? state.nextSequence - 1
            if through > state.persistedAckedThrough {
                // A lost update only means resending acknowledged batches: no directory fsync.
                try PosixFile.replace(directory + "/acked", with: Array("\(through)\n".utf8))
                state.persistedAckedThrough = through
            }
            if let removeError { throw removeError }
        }
    }

    /// Drop counts not yet reported to the hub, as last saved (restored after a restart).
    public func savedDropCounts() -> (batches: UInt64, samples: UInt64) {
        state.withLock { $0.dropCounts }
    }

    /// Saves drop counts not yet reported to the hub, so that they survive a restart.
    public func saveDropCounts(batches: UInt64, samples: UInt64) throws(SpoolError) {
        try state.withLock { (state) throws(SpoolError) in
            guard state.dropCounts != (batches, samples) else { return }
            guard state.lock != nil else { throw SpoolError(.closed, path: directory, "is closed") }
            try PosixFile.replace(directory + "/dropped", with: Array("\(batches) \(samples)\n".utf8), syncDirectory: directory)
            state.dropCounts = (batches, samples)
        }
    }

    public var stats: SpoolStats {
        state.withLock {
            SpoolStats(segments: $0.segments.count, bytes: $0.bytes, unacknowledgedRecords: $0.records.count, droppedRecords: $0.droppedRecords)
        }
    }

    // MARK: Segments

    func segmentPath(_ firstSequence: UInt64) -> String {
        Self.segmentPath(directory: directory, firstSequence)
    }

    static func segmentPath(directory: String, _ firstSequence: UInt64) -> String {
        "\(directory)/spool-\(firstSequence).log"
    }

    /// Deletes every segment but the last whose records are all acknowledged. The last one
    /// stays even when empty: its name keeps the sequence counter across restarts.
    private func removeAcknowledgedSegments(_ state: inout State) -> SpoolError? {
        var firstError: SpoolError?
        var removed = false
        var i = 0
        while i < state.segments.count - 1 {
            let segment = state.segments[i]
            guard segment.live == 0 else {
                i += 1
                continue
            }
            do throws(SpoolError) {
                try PosixFile.remove(segment.path)
                state.segments.remove(at: i)
                state.bytes -= segment.size
                removed = true
            } catch {
                firstError = firstError ?? error
                i += 1
            }
        }
        if removed {
            do throws(SpoolError) { try PosixFile.syncDirectory(directory) } catch { firstError = firstError ?? error }
        }
        return firstError
    }

    /// Deletes the oldest segment, unacknowledged records and all. Returns their sequences.
    private func dropOldestSegment(_ state: inout State) -> [UInt64] {
        let segment = state.segments.removeFirst()
        state.bytes -= segment.size
        let count = state.records.prefix { $0.segment == segment.firstSequence }.count
        let dropped = state.records.prefix(count).map(\.sequence)
        state.records.removeFirst(count)
        state.droppedRecords += UInt64(count)
        do throws(SpoolError) {
            try PosixFile.remove(segment.path)
            try PosixFile.syncDirectory(directory)
        } catch {
            // The records are gone from the index either way; a leftover file is dropped
            // again, as damage or as acknowledged, at the next start.
            logger.info("could not remove a dropped spool segment", metadata: ["error": "\(error)"])
        }
        logger.info("spool full: dropped its oldest segment", metadata: [
            "segment": "\(segment.path)", "bytes": "\(segment.size)", "unacknowledged_batches": "\(count)",
            "max_bytes": "\(limits.maxBytes)",
        ])
        return dropped
    }
}

extension Spool.Entry: SequenceNumbered {}

// MARK: - Recovery

extension Spool {
    /// Reads a spool directory back: identity, acknowledgements, drop counts and every
    /// segment, checking each record.
    struct Recovery {
        let directory: String
        let logger: Logger
        var agentInstanceID = ""
        var segments = [Segment]()
        var records = [Entry]()
        var nextSequence: UInt64 = 1
        var dropCounts: (batches: UInt64, samples: UInt64) = (0, 0)
        var report = SpoolRecoveryReport()

        init(directory: String, logger: Logger) {
            self.directory = directory
            self.logger = logger
        }

        mutating func run() throws(SpoolError) {
            let names = try PosixFile.names(in: directory)
            for name in names where name.hasSuffix(".tmp") {
                // A replace interrupted before its rename: the old file is still in place.
                try PosixFile.remove(directory + "/" + name)
            }
            agentInstanceID = try loadIdentity()
            report.acknowledgedThrough = readNumbers(directory + "/acked", count: 1)?[0] ?? 0
            if let counts = readNumbers(directory + "/dropped", count: 2) { dropCounts = (counts[0], counts[1]) }
            nextSequence = max(1, report.acknowledgedThrough &+ 1)

            let found = names.compactMap { name -> UInt64? in
                guard name.hasPrefix("spool-"), name.hasSuffix(".log") else { return nil }
                return UInt64(name.dropFirst(6).dropLast(4))
            }.sorted()
            var previous: UInt64 = 0
            for (i, first) in found.enumerated() {
                let isLast = i == found.count - 1
                var segment = Segment(firstSequence: first, path: Spool.segmentPath(directory: directory, first), size: 0, live: 0)
                guard let kept = recoverSegment(&segment, after: previous, isLast: isLast) else {
                    // Unreadable (permissions?): left alone for a person to look at, and its
                    // name never reused.
                    nextSequence = max(nextSequence, first &+ 1)
                    continue
                }
                if let last = kept.last { previous = last.sequence }
                nextSequence = max(nextSequence, first, previous &+ 1)
                let unacknowledged = kept.filter { $0.sequence > report.acknowledgedThrough }
                segment.live = unacknowledged.count
                records += unacknowledged
                if segment.live == 0 && !isLast {
                    do throws(SpoolError) {
                        try PosixFile.remove(segment.path)
                    } catch {
                        note(error)
                        segments.append(segment)
                    }
                } else {
                    segments.append(segment)
                }
            }
            report.segments = segments.count
            report.unacknowledgedRecords = records.count
        }

        /// The instance id from `agent.json`, or a new one written there.
        mutating func loadIdentity() throws(SpoolError) -> String {
            struct IdentityFile: Decodable { var agentInstanceID: String }
            let path = directory + "/agent.json"
            if let bytes = try PosixFile.contents(of: path) {
                if let file = try? JSONDecoder().decode(IdentityFile.self, from: Data(bytes)),
                    !file.agentInstanceID.isEmpty, file.agentInstanceID.utf8.count <= 128 {
                    return file.agentInstanceID
                }
                // Safe to replace: spooled batches carry their own id, and new batches from a
                // new id cannot collide with old ones at the hub.
                note(SpoolError(.badIdentity, path: path, "does not hold a valid agent instance id; starting as a new agent instance"))
            }
            let id = UUID().uuidString.lowercased()
            try PosixFile.replace(path, with: Array("{\"agentInstanceID\": \"\(id)\"}\n".utf8), syncDirectory: directory)
            return id
        }

        /// `count` whitespace-separated decimal numbers from a small file; nil when the file is
        /// missing or damaged (a damaged file is reported and treated as absent, which at worst
        /// resends acknowledged batches).
        mutating func readNumbers(_ path: String, count: Int) -> [UInt64]? {
            do throws(SpoolError) {
                guard let bytes = try PosixFile.contents(of: path, limit: 256) else { return nil }
                let numbers = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
                if numbers.count == count { return numbers }
                note(SpoolError(.corruptRecord, path: path, "does not hold \(count) number\(count == 1 ? "" : "s"); ignoring it"))
            } catch {
                note(error)
            }
            return nil
        }

        /// Reports a problem found on the way; recovery carries on.
        mutating func note(_ problem: SpoolError, metadata: Logger.Metadata = [:]) {
            report.problems.append(problem)
            logger.info("\(problem)", metadata: metadata)
        }

        /// Checks each record of a segment, cuts the file at the first bad one, and returns the
        /// good ones; nil when the file cannot be opened. Damage is counted and reported, never
        /// thrown: one bad segment must not stop the agent.
        mutating func recoverSegment(_ segment: inout Segment, after previous: UInt64, isLast: Bool) -> [Entry]? {
            let file: PosixFile
            do throws(SpoolError) {
                file = try PosixFile(opening: segment.path, O_RDWR)
            } catch {
                note(error)
                return nil
            }
            defer { file.close() }
            var kept = [Entry]()
            do throws(SpoolError) {
                let size = Int(try file.size())
                var offset = 0
                var last = previous
                while offset < size {
                    let minimum = max(segment.firstSequence, last &+ 1)
                    switch try RecordCheck(file, at: offset, fileSize: size, minimumSequence: minimum) {
                    case .valid(let sequence, let length):
                        kept.append(Entry(sequence: sequence, segment: segment.firstSequence, offset: offset, length: length))
                        last = sequence
                        offset += SpoolRecordFormat.headerSize + length
                    case .bad(let reason, let header):
                        segment.size = offset
                        try handleDamage(file, segment: segment, at: offset, fileSize: size, after: last, reason: reason, header: header, isLast: isLast)
                        return kept
                    }
                }
                segment.size = size
            } catch {
                // A read or truncate failed: keep what was read. Appends go to a new segment.
                note(error)
                segment.size = kept.last.map { $0.offset + SpoolRecordFormat.headerSize + $0.length } ?? 0
            }
            return kept
        }

        /// A bad record at `offset`: a torn tail (a crash during the last write) or damage with
        /// data after it. Either way the file is cut there; for damage, the records after it
        /// are found (by their magic number and checksum) to count what is lost.
        mutating func handleDamage(
            _ file: PosixFile, segment: Segment, at offset: Int, fileSize: Int, after last: UInt64, reason: String,
            header: SpoolRecordFormat.Header?, isLast: Bool
        ) throws(SpoolError) {
            let dropped = fileSize - offset
            // Segments are a few MiB; a file grown far beyond is only searched this far.
            let rest = try file.read(count: min(dropped, Self.maxSearchBytes), at: Int64(offset))
            let after = SpoolRecordFormat.records(in: rest, from: 1).map(\.sequence)
            // Torn: nothing intact follows, and the bad record reaches the end of the file or
            // is followed only by zeros (blocks allocated before their data was written).
            let reachesEnd = header.map { offset + SpoolRecordFormat.headerSize + $0.length >= fileSize } ?? true
            let torn = after.isEmpty && (reachesEnd || !rest.contains { $0 != 0 })

            let problem: SpoolError
            if torn {
                problem = SpoolError(.tornTail, path: segment.path, offset: Int64(offset), "record at offset \(offset) \(reason); cut off a torn tail of \(dropped) bytes")
            } else {
                var lost = UInt64(after.filter { $0 > report.acknowledgedThrough }.count)
                if header.map({ $0.sequence > report.acknowledgedThrough }) ?? true { lost += 1 }
                report.droppedRecords += lost
                problem = SpoolError(
                    .corruptRecord, path: segment.path, offset: Int64(offset),
                    "record at offset \(offset) \(reason); dropped \(after.count) record\(after.count == 1 ? "" : "s") after it"
                )
                if isLast {
                    // The lost sequences may have reached the hub: never use them again.
                    nextSequence = Swift.max(nextSequence, last &+ 1, (after.max() ?? 0) &+ 1) &+ 1
                }
            }
            note(problem, metadata: ["dropped_bytes": "\(dropped)"])
            report.truncatedBytes += dropped
            try file.truncate(to: Int64(offset))
            try file.sync()
        }

        static let maxSearchBytes = 64 << 20
    }

    /// The verdict on the record at one offset of a segment.
    enum RecordCheck {
        case valid(sequence: UInt64, length: Int)
        /// `header` is nil when not even a header fits before the end of the file.
        case bad(reason: String, header: SpoolRecordFormat.Header?)

        init(_ file: PosixFile, at offset: Int, fileSize: Int, minimumSequence: UInt64) throws(SpoolError) {
            let headerSize = SpoolRecordFormat.headerSize
            guard fileSize - offset >= headerSize else {
                self = .bad(reason: "is cut short (\(fileSize - offset) of \(headerSize) header bytes)", header: nil)
                return
            }
            let header = SpoolRecordFormat.Header(try file.read(count: headerSize, at: Int64(offset)))
            if let problem = header.problem {
                self = .bad(reason: problem, header: header)
                return
            }
            guard offset + headerSize + header.length <= fileSize else {
                self = .bad(reason: "is cut short (\(fileSize - offset - headerSize) of \(header.length) payload bytes)", header: header)
                return
            }
            let payload = try file.read(count: header.length, at: Int64(offset + headerSize))
            if header.checksum != SpoolRecordFormat.checksum(sequence: header.sequence, payload: payload) {
                self = .bad(reason: "has a bad checksum", header: header)
            } else if header.sequence < minimumSequence {
                self = .bad(reason: "has sequence \(header.sequence), expected at least \(minimumSequence)", header: header)
            } else {
                self = .valid(sequence: header.sequence, length: header.length)
            }
        }
    }
}
