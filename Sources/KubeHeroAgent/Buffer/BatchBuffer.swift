import KubeHeroCore
import KubeHeroWire
import Logging
import SwiftProtobuf
import Synchronization

/// How many closed batches the agent keeps in memory while it waits for acknowledgements.
public struct BufferLimits: Sendable, Hashable {
    /// Batches held in memory; at the default flush interval (60 s), an hour.
    public var maxBatches: Int
    /// Sum of the encoded sizes of the batches held in memory.
    public var maxBytes: Int

    public init(maxBatches: Int = 60, maxBytes: Int = 16 << 20) {
        self.maxBatches = maxBatches
        self.maxBytes = maxBytes
    }
}

/// The buffer's state for metrics.
public struct BufferStats: Sendable, Hashable {
    /// Batches closed and not yet acknowledged (in memory or only in the spool).
    public var queuedBatches: Int
    /// Their encoded size.
    public var queuedBytes: Int
    /// Of those, the batches held in memory, and their size.
    public var memoryBatches: Int
    public var memoryBytes: Int
    /// Batches dropped since start (buffer full, spool full, damaged spool, refused by the
    /// hub), and the samples they held.
    public var droppedBatches: UInt64
    public var droppedSamples: UInt64
    /// Of the dropped batches, those the hub refused.
    public var rejectedBatches: UInt64
    /// Appends whose spool write failed (the batch was kept in memory only).
    public var spoolWriteFailures: UInt64
}

/// Closed batches waiting for the hub's acknowledgement, oldest first, as the encoded
/// `WireUsageBatch` the shipper sends.
///
/// Without a spool, the queue is bounded by `BufferLimits`: over a limit the oldest batch is
/// dropped (the newest is always kept). With a spool, every batch is written and fsync'd to
/// the spool before `append` returns; memory holds the oldest batches that fit the limits
/// (the ones sent next), the rest wait on disk and are read back as acknowledgements make
/// room, and only the spool's own bound drops anything.
///
/// Whatever is dropped is counted: `takeDropCounts()` hands the counts to the next batch the
/// agent closes, and the counts a lost batch carried are counted again, so no gap goes
/// unreported. With a spool, counts not yet carried by a spooled batch survive restarts.
///
/// Thread-safe. With a spool every method but `pending()`, `takeDropCounts()` and `stats`
/// may block on disk: call them from a thread pool (`NIOThreadPool`) or a dedicated thread,
/// never from an event loop.
///
/// ```swift
/// let spool = try Spool(directory: spoolDir, logger: logger)
/// let buffer = BatchBuffer(limits: BufferLimits(), spool: spool, logger: logger)
/// let drops = buffer.takeDropCounts()     // into the next batch's droppedBatches/droppedTicks
/// try buffer.append(batch)
/// for (sequence, bytes) in buffer.pending() { send(bytes) }
/// buffer.acknowledge(sequence: ackedSequence)
/// ```
public final class BatchBuffer: Sendable {
    public let limits: BufferLimits
    public let spool: Spool?
    private let logger: Logger
    // Spool calls are made with this lock held (buffer first, then spool; the spool never
    // calls back), so that the memory queue and the spool change together.
    private let state: Mutex<State>

    struct DropCounts: Equatable {
        var batches: UInt64 = 0
        var samples: UInt64 = 0

        static func + (a: DropCounts, b: DropCounts) -> DropCounts {
            DropCounts(batches: a.batches &+ b.batches, samples: a.samples &+ b.samples)
        }
    }

    struct Entry: SequenceNumbered {
        var sequence: UInt64
        var size: Int
        /// Container-samples in the batch: what is lost with it.
        var samples: UInt64
        /// Drop counts the batch carries to the hub, counted again if it is lost.
        var carried: DropCounts
        /// Nil while only the spool holds it.
        var bytes: [UInt8]?
        var spooled: Bool
    }

    struct State {
        var entries: [Entry] = []
        var lastSequence: UInt64?
        var queuedBytes = 0
        var memoryBatches = 0
        var memoryBytes = 0
        /// Not yet handed out by `takeDropCounts`.
        var unreported = DropCounts()
        /// Handed out, and not yet carried by a spooled batch.
        var taken = DropCounts()
        var totalDropped = DropCounts()
        var rejected: UInt64 = 0
        var spoolWriteFailures: UInt64 = 0
    }

    /// A buffer holding at once what `spool` recovered: its unacknowledged batches, the drop
    /// counts not yet reported, and the batches lost to damage on disk (counted as dropped).
    public init(limits: BufferLimits = BufferLimits(), spool: Spool? = nil, logger: Logger = Logger(label: "kubehero.agent.buffer")) {
        self.limits = limits
        self.spool = spool
        self.logger = logger
        self.state = Mutex(State())
        guard let spool else { return }
        state.withLock { state in
            let saved = spool.savedDropCounts()
            state.unreported = DropCounts(batches: saved.batches &+ spool.recoveryReport.droppedRecords, samples: saved.samples)
            state.totalDropped.batches = spool.recoveryReport.droppedRecords
            if let next = spool.identity().nextSequence.checkedPredecessor { state.lastSequence = next }
            for sequence in spool.unacknowledgedSequences() {
                guard let payload = read(sequence, dropping: Entry(sequence: sequence, size: 0, samples: 0, carried: DropCounts(), spooled: true), in: &state) else {
                    continue
                }
                // Samples and carried counts are only known from the batch itself; a batch that
                // does not decode is still sent, and the hub's rejection counts it.
                let wire = try? WireUsageBatch(serializedBytes: payload)
                state.entries.append(Entry(
                    sequence: sequence, size: payload.count,
                    samples: UInt64(wire?.containers.reduce(0) { $0 + $1.cpuNanos.count } ?? 0),
                    carried: DropCounts(batches: wire?.droppedBatches ?? 0, samples: wire?.droppedTicks ?? 0),
                    bytes: payload, spooled: true
                ))
                state.queuedBytes += payload.count
                state.memoryBatches += 1
                state.memoryBytes += payload.count
                trimMemory(&state)
            }
            persistDropCounts(&state)
        }
    }

    /// Queues `batch`. With a spool it is on disk when this returns.
    ///
    /// Throws only when the batch was not queued: its sequence is not above the previous
    /// batch's, or it encodes larger than the hub accepts. Such a batch is counted as dropped
    /// and its sequence number is not used. When only the spool write fails, the batch is
    /// kept in memory (sent, but it would not survive a restart) and the failure is logged
    /// and counted in `stats.spoolWriteFailures`.
    public func append(_ batch: UsageBatch) throws {
        let bytes: [UInt8]
        do {
            bytes = try WireUsageBatch(batch).serializedBytes()
        } catch {
            drop(batch)
            throw BatchBufferError("cannot encode batch \(batch.sequence): \(error); dropped")
        }
        try state.withLock { (state) throws(BatchBufferError) in
            var entry = Entry(
                sequence: batch.sequence, size: bytes.count, samples: UInt64(batch.sampleCount),
                carried: DropCounts(batches: batch.droppedBatches, samples: batch.droppedTicks), bytes: bytes, spooled: false
            )
            // From here on, what the agent took with `takeDropCounts` is either carried by a
            // queued batch or counted again with the dropped one.
            state.taken = DropCounts()
            if let last = state.lastSequence, batch.sequence <= last {
                Self.countDrop(entry, in: &state)
                persistDropCounts(&state)
                throw BatchBufferError("batch \(batch.sequence) comes after batch \(last): sequence numbers must increase; dropped")
            }
            if bytes.count > wireMaxMessageBytes {
                Self.countDrop(entry, in: &state)
                persistDropCounts(&state)
                throw BatchBufferError("batch \(batch.sequence) is \(bytes.count) bytes encoded, more than the \(wireMaxMessageBytes) the hub accepts; dropped")
            }
            state.lastSequence = batch.sequence
            var spoolDropped = [UInt64]()
            if let spool {
                do {
                    spoolDropped = try spool.append(sequence: batch.sequence, payload: bytes)
                    entry.spooled = true
                } catch {
                    state.spoolWriteFailures += 1
                    logger.info("could not spool a batch; keeping it in memory only", metadata: ["sequence": "\(batch.sequence)", "error": "\(error)"])
                }
            }
            state.entries.append(entry)
            state.queuedBytes += entry.size
            state.memoryBatches += 1
            state.memoryBytes += entry.size
            for sequence in spoolDropped {
                if let i = state.entries.index(of: sequence) { Self.countDrop(remove(at: i, in: &state), in: &state) }
            }
            trimMemory(&state)
            if !spoolDropped.isEmpty { refill(&state) }
            persistDropCounts(&state)
        }
    }

    /// The unacknowledged batches held in memory, in sequence order: what the shipper (re)sends
    /// after (re)connecting. Without a spool that is every unacknowledged batch; with one, the
    /// oldest that fit the limits, and more follow as acknowledgements make room.
    public func pending() -> [(sequence: UInt64, bytes: [UInt8])] {
        state.withLock { state in
            state.entries.compactMap { entry in entry.bytes.map { (entry.sequence, $0) } }
        }
    }

    /// The hub committed batch `sequence`: forget it. Unknown sequences (acknowledged before,
    /// dropped) are ignored.
    public func acknowledge(sequence: UInt64) {
        state.withLock { state in
            guard let i = state.entries.index(of: sequence) else { return }
            remove(at: i, in: &state)
            spoolAcknowledge(sequence)
            refill(&state)
            persistDropCounts(&state)
        }
    }

    /// The hub refused batch `sequence` for good: forget it, and count it as dropped together
    /// with the drop counts it carried. Unknown sequences are ignored.
    public func reject(sequence: UInt64) {
        state.withLock { state in
            guard let i = state.entries.index(of: sequence) else { return }
            Self.countDrop(remove(at: i, in: &state), in: &state)
            state.rejected += 1
            spoolAcknowledge(sequence)
            refill(&state)
            persistDropCounts(&state)
        }
    }

    /// Batches dropped since the last call and the samples they held, for the next batch's
    /// `droppedBatches` and `droppedTicks`; the counts start again from zero.
    public func takeDropCounts() -> (batches: UInt64, samples: UInt64) {
        state.withLock { state in
            let counts = state.unreported
            state.taken = state.taken + counts
            state.unreported = DropCounts()
            return (counts.batches, counts.samples)
        }
    }

    public var stats: BufferStats {
        state.withLock { s in
            BufferStats(
                queuedBatches: s.entries.count, queuedBytes: s.queuedBytes, memoryBatches: s.memoryBatches,
                memoryBytes: s.memoryBytes, droppedBatches: s.totalDropped.batches, droppedSamples: s.totalDropped.samples,
                rejectedBatches: s.rejected, spoolWriteFailures: s.spoolWriteFailures
            )
        }
    }

    // MARK: Queue bookkeeping

    private func overLimits(_ state: State) -> Bool {
        state.memoryBatches > limits.maxBatches || state.memoryBytes > limits.maxBytes
    }

    /// Brings memory within the limits, keeping at least one batch: first the newest batches
    /// the spool also holds leave memory (so memory keeps the oldest, sent next), then the
    /// oldest batches only memory holds are dropped.
    private func trimMemory(_ state: inout State) {
        while overLimits(state), state.memoryBatches > 1 {
            if let i = state.entries.lastIndex(where: { $0.spooled && $0.bytes != nil }) {
                state.entries[i].bytes = nil
                state.memoryBatches -= 1
                state.memoryBytes -= state.entries[i].size
            } else if let i = state.entries.firstIndex(where: { $0.bytes != nil }) {
                let dropped = remove(at: i, in: &state)
                Self.countDrop(dropped, in: &state)
                logger.info("buffer full: dropped the oldest unacknowledged batch", metadata: [
                    "sequence": "\(dropped.sequence)", "max_batches": "\(limits.maxBatches)", "max_bytes": "\(limits.maxBytes)",
                ])
            }
        }
    }

    /// Reads batches back from the spool, oldest first, while they fit in memory.
    private func refill(_ state: inout State) {
        var i = 0
        while i < state.entries.count {
            let entry = state.entries[i]
            guard entry.bytes == nil else {
                i += 1
                continue
            }
            let fits = state.memoryBatches < limits.maxBatches && state.memoryBytes + entry.size <= limits.maxBytes
            guard fits || state.memoryBatches == 0 else { return }
            guard let bytes = read(entry.sequence, dropping: entry, in: &state) else {
                remove(at: i, in: &state)
                continue
            }
            state.entries[i].bytes = bytes
            state.memoryBatches += 1
            state.memoryBytes += entry.size
            i += 1
        }
    }

    /// The spooled payload of `sequence`, or nil after counting `entry` as dropped (the
    /// record is gone or unreadable); the caller removes the entry.
    private func read(_ sequence: UInt64, dropping entry: Entry, in state: inout State) -> [UInt8]? {
        do {
            if let bytes = try spool?.read(sequence: sequence) { return bytes }
            logger.info("dropped a queued batch the spool no longer holds", metadata: ["sequence": "\(sequence)"])
        } catch {
            logger.info("dropped a spooled batch that cannot be read back", metadata: ["sequence": "\(sequence)", "error": "\(error)"])
        }
        Self.countDrop(entry, in: &state)
        spoolAcknowledge(sequence)
        return nil
    }

    /// Removes the entry at `i`, keeping the totals right.
    @discardableResult
    private func remove(at i: Int, in state: inout State) -> Entry {
        let entry = state.entries.remove(at: i)
        state.queuedBytes -= entry.size
        if entry.bytes != nil {
            state.memoryBatches -= 1
            state.memoryBytes -= entry.size
        }
        return entry
    }

    /// Counts a lost batch: itself, its samples, and the drop counts it would have carried.
    private static func countDrop(_ entry: Entry, in state: inout State) {
        let lost = DropCounts(batches: 1, samples: entry.samples)
        state.unreported = state.unreported + lost + entry.carried
        state.totalDropped = state.totalDropped + lost
    }

    /// Counts a batch that never made it into the queue.
    private func drop(_ batch: UsageBatch) {
        state.withLock { state in
            state.taken = DropCounts()
            Self.countDrop(
                Entry(sequence: batch.sequence, size: 0, samples: UInt64(batch.sampleCount), carried: DropCounts(batches: batch.droppedBatches, samples: batch.droppedTicks), spooled: false),
                in: &state
            )
            persistDropCounts(&state)
        }
    }

    private func spoolAcknowledge(_ sequence: UInt64) {
        do {
            try spool?.acknowledge(sequence: sequence)
        } catch {
            // Harmless: after a restart the batch is sent again and the hub recognises it.
            logger.info("could not record an acknowledgement in the spool", metadata: ["sequence": "\(sequence)", "error": "\(error)"])
        }
    }

    /// Saves the counts no spooled batch carries yet (the spool writes only on change).
    private func persistDropCounts(_ state: inout State) {
        guard let spool else { return }
        let counts = state.unreported + state.taken
        do {
            try spool.saveDropCounts(batches: counts.batches, samples: counts.samples)
        } catch {
            logger.info("could not save drop counts in the spool", metadata: ["error": "\(error)"])
        }
    }
}

extension BatchBuffer.Entry {
    init(sequence: UInt64, size: Int, samples: UInt64, carried: BatchBuffer.DropCounts, spooled: Bool) {
        self.init(sequence: sequence, size: size, samples: samples, carried: carried, bytes: nil, spooled: spooled)
    }
}

extension UInt64 {
    fileprivate var checkedPredecessor: UInt64? { self > 0 ? self - 1 : nil }
}
