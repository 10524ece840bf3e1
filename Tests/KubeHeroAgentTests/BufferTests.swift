import Foundation
@testable import KubeHeroAgent
import KubeHeroCore
import KubeHeroWire
import SwiftProtobuf
import Testing

@Suite("Batch buffer")
struct BufferTests {
    typealias F = SpoolFixtures
    let logger = SpoolFixtures.logger
    /// Samples in a default fixture batch: 2 containers x 3 ticks.
    let samplesPerBatch: UInt64 = 6

    func sequences(_ buffer: BatchBuffer) -> [UInt64] {
        buffer.pending().map(\.sequence)
    }

    // MARK: In memory

    @Test("pending returns the unacknowledged batches in order, encoded for the wire")
    func appendAckPending() throws {
        let buffer = BatchBuffer(logger: logger)
        for sequence in UInt64(1)...3 {
            try buffer.append(F.batch(sequence))
        }
        let pending = buffer.pending()
        #expect(pending.map(\.sequence) == [1, 2, 3])
        for (sequence, bytes) in pending {
            #expect(bytes == (try F.encoded(F.batch(sequence))))
            #expect(try UsageBatch(wire: WireUsageBatch(serializedBytes: bytes)) == F.batch(sequence))
        }
        buffer.acknowledge(sequence: 2)
        #expect(sequences(buffer) == [1, 3])
        buffer.acknowledge(sequence: 2)
        buffer.acknowledge(sequence: 99)
        #expect(sequences(buffer) == [1, 3])
        buffer.acknowledge(sequence: 1)
        buffer.acknowledge(sequence: 3)
        #expect(buffer.pending().isEmpty)
        #expect(buffer.stats.queuedBytes == 0)
        #expect(buffer.takeDropCounts() == (0, 0))
    }

    @Test("over the count limit the oldest batches are dropped and counted")
    func countLimit() throws {
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 3), logger: logger)
        for sequence in UInt64(1)...5 {
            try buffer.append(F.batch(sequence))
        }
        #expect(sequences(buffer) == [3, 4, 5])
        #expect(buffer.takeDropCounts() == (2, 2 * samplesPerBatch))
        let stats = buffer.stats
        #expect(stats.queuedBatches == 3)
        #expect(stats.droppedBatches == 2)
        #expect(stats.droppedSamples == 2 * samplesPerBatch)
    }

    @Test("over the byte limit the oldest batches are dropped and counted")
    func byteLimit() throws {
        let size = try F.encoded(F.batch(1)).count
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 100, maxBytes: 2 * size + size / 2), logger: logger)
        for sequence in UInt64(1)...4 {
            try buffer.append(F.batch(sequence))
        }
        #expect(sequences(buffer) == [3, 4])
        #expect(buffer.stats.queuedBytes == 2 * size)
        #expect(buffer.takeDropCounts() == (2, 2 * samplesPerBatch))
    }

    @Test("the newest batch is kept even when alone it exceeds the byte limit")
    func newestKept() throws {
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 10, maxBytes: 10), logger: logger)
        try buffer.append(F.batch(1))
        try buffer.append(F.batch(2))
        #expect(sequences(buffer) == [2])
        #expect(buffer.takeDropCounts().batches == 1)
    }

    @Test("a rejected batch is dropped and counted, with the drop counts it carried")
    func reject() throws {
        let buffer = BatchBuffer(logger: logger)
        try buffer.append(F.batch(1, droppedBatches: 2, droppedTicks: 7))
        try buffer.append(F.batch(2))
        buffer.reject(sequence: 1)
        buffer.reject(sequence: 1)
        #expect(sequences(buffer) == [2])
        #expect(buffer.takeDropCounts() == (1 + 2, samplesPerBatch + 7))
        #expect(buffer.stats.rejectedBatches == 1)
        #expect(buffer.stats.droppedBatches == 1)
    }

    @Test("a dropped batch's own drop counts are reported again")
    func carriedCounts() throws {
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 1), logger: logger)
        try buffer.append(F.batch(1, droppedBatches: 4, droppedTicks: 9))
        try buffer.append(F.batch(2))
        #expect(buffer.takeDropCounts() == (1 + 4, samplesPerBatch + 9))
    }

    @Test("drop counts start again from zero once taken")
    func takeResets() throws {
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 1), logger: logger)
        try buffer.append(F.batch(1))
        try buffer.append(F.batch(2))
        #expect(buffer.takeDropCounts() == (1, samplesPerBatch))
        #expect(buffer.takeDropCounts() == (0, 0))
        try buffer.append(F.batch(3))
        #expect(buffer.takeDropCounts() == (1, samplesPerBatch))
        #expect(buffer.stats.droppedBatches == 2)
    }

    @Test("a batch whose sequence does not increase is refused, counted, and does not use up the sequence")
    func sequenceOrder() throws {
        let buffer = BatchBuffer(logger: logger)
        try buffer.append(F.batch(5))
        #expect(throws: BatchBufferError.self) { try buffer.append(F.batch(5)) }
        #expect(buffer.takeDropCounts() == (1, samplesPerBatch))
        try buffer.append(F.batch(6))
        #expect(sequences(buffer) == [5, 6])
    }

    // MARK: With a spool

    @Test("spooled batches come back after a restart under the same agent id and sequences")
    func restart() throws {
        let dir = try SpoolScratchDirectory()
        let spool = try Spool(directory: dir.path, logger: logger)
        let (agent, first) = spool.identity()
        let buffer = BatchBuffer(spool: spool, logger: logger)
        let batches = (first..<(first + 3)).map { F.batch($0, agent: agent) }
        for batch in batches {
            try buffer.append(batch)
        }
        buffer.acknowledge(sequence: first)
        spool.close()

        let spool2 = try Spool(directory: dir.path, logger: logger)
        #expect(spool2.identity() == (agent, first + 3))
        let buffer2 = BatchBuffer(spool: spool2, logger: logger)
        let pending = buffer2.pending()
        #expect(pending.map(\.sequence) == [first + 1, first + 2])
        #expect(pending.map(\.bytes) == (try batches.dropFirst().map(F.encoded)))
        #expect(buffer2.takeDropCounts() == (0, 0))
    }

    @Test("with a spool, memory holds the oldest batches and the rest wait on disk, none dropped")
    func memoryLimitWithSpool() throws {
        let dir = try SpoolScratchDirectory()
        let spool = try Spool(directory: dir.path, logger: logger)
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 2), spool: spool, logger: logger)
        for sequence in UInt64(1)...5 {
            try buffer.append(F.batch(sequence))
        }
        #expect(sequences(buffer) == [1, 2])
        #expect(buffer.stats.queuedBatches == 5)
        #expect(buffer.stats.memoryBatches == 2)
        buffer.acknowledge(sequence: 1)
        #expect(sequences(buffer) == [2, 3])
        buffer.acknowledge(sequence: 2)
        buffer.acknowledge(sequence: 3)
        #expect(buffer.pending().map(\.sequence) == [4, 5])
        #expect(buffer.pending().last?.bytes == (try F.encoded(F.batch(5))))
        #expect(buffer.takeDropCounts() == (0, 0))
    }

    @Test("batches the full spool drops are counted, and the count survives a restart until taken")
    func spoolFull() throws {
        let dir = try SpoolScratchDirectory()
        let record = try F.encoded(F.batch(1)).count + SpoolRecordFormat.headerSize
        let limits = SpoolLimits(maxBytes: 4 * record, segmentBytes: 2 * record)
        let spool = try Spool(directory: dir.path, limits: limits, logger: logger)
        let buffer = BatchBuffer(spool: spool, logger: logger)
        for sequence in UInt64(1)...5 {
            try buffer.append(F.batch(sequence))
        }
        #expect(sequences(buffer) == [3, 4, 5])
        #expect(buffer.stats.droppedBatches == 2)
        spool.close()

        // A larger spool from here on, so that nothing more is dropped.
        let spool2 = try Spool(directory: dir.path, logger: logger)
        let buffer2 = BatchBuffer(spool: spool2, logger: logger)
        #expect(sequences(buffer2) == [3, 4, 5])
        #expect(buffer2.takeDropCounts() == (2, 2 * samplesPerBatch))
        try buffer2.append(F.batch(6, droppedBatches: 2, droppedTicks: 2 * samplesPerBatch))
        spool2.close()

        // Carried by the spooled batch 6 now: not counted twice.
        let spool3 = try Spool(directory: dir.path, logger: logger)
        #expect(BatchBuffer(spool: spool3, logger: logger).takeDropCounts() == (0, 0))
    }

    @Test("batches lost to damage on disk are counted as dropped")
    func damageCounted() throws {
        let dir = try SpoolScratchDirectory()
        let record = try F.encoded(F.batch(1)).count + SpoolRecordFormat.headerSize
        let limits = SpoolLimits(segmentBytes: 3 * record)
        let spool = try Spool(directory: dir.path, limits: limits, logger: logger)
        let buffer = BatchBuffer(spool: spool, logger: logger)
        for sequence in UInt64(1)...4 {
            try buffer.append(F.batch(sequence))
        }
        spool.close()
        var bytes = try dir.contents("spool-1.log")
        bytes[record + SpoolRecordFormat.headerSize + 3] ^= 0xFF
        try dir.write("spool-1.log", bytes)

        let spool2 = try Spool(directory: dir.path, limits: limits, logger: logger)
        let buffer2 = BatchBuffer(spool: spool2, logger: logger)
        #expect(sequences(buffer2) == [1, 4])
        #expect(buffer2.takeDropCounts().batches == 2)
    }

    @Test("batches appended through the buffer survive kill -9")
    func killMinus9() throws {
        let dir = try SpoolScratchDirectory()
        let spool = try Spool(directory: dir.path, logger: logger)
        let buffer = BatchBuffer(spool: spool, logger: logger)
        for sequence in UInt64(1)...3 {
            try buffer.append(F.batch(sequence, containers: 50, ticks: 60))
        }
        let before = buffer.pending()
        // The process "dies" here: nothing is closed; the next one finds the files as they are.
        let copy = try SpoolScratchDirectory()
        try dir.copy(to: copy)

        let recovered = BatchBuffer(spool: try Spool(directory: copy.path, logger: logger), logger: logger)
        let after = recovered.pending()
        #expect(after.map(\.sequence) == before.map(\.sequence))
        #expect(after.map(\.bytes) == before.map(\.bytes))
        withExtendedLifetime(spool) {}
    }

    @Test("when the spool cannot be written the batch is still queued in memory")
    func spoolWriteFailure() throws {
        let dir = try SpoolScratchDirectory()
        let spool = try Spool(directory: dir.path, logger: logger)
        let buffer = BatchBuffer(spool: spool, logger: logger)
        try buffer.append(F.batch(1))
        spool.close()
        try buffer.append(F.batch(2))
        #expect(sequences(buffer) == [1, 2])
        #expect(buffer.stats.spoolWriteFailures == 1)
        #expect(buffer.takeDropCounts() == (0, 0))
    }

    @Test("spooled batches that vanish from disk are dropped and counted when their turn comes")
    func vanishedSpool() throws {
        let dir = try SpoolScratchDirectory()
        let spool = try Spool(directory: dir.path, logger: logger)
        let buffer = BatchBuffer(limits: BufferLimits(maxBatches: 1), spool: spool, logger: logger)
        for sequence in UInt64(1)...3 {
            try buffer.append(F.batch(sequence))
        }
        #expect(sequences(buffer) == [1])
        for segment in try dir.segments() {
            try FileManager.default.removeItem(atPath: dir.path + "/" + segment)
        }
        buffer.acknowledge(sequence: 1)
        #expect(buffer.pending().isEmpty)
        #expect(buffer.stats.queuedBatches == 0)
        #expect(buffer.takeDropCounts() == (2, 2 * samplesPerBatch))
    }
}
