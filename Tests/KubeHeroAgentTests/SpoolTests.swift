import Foundation
@testable import KubeHeroAgent
import Testing

@Suite("CRC-32C")
struct SpoolCRC32CTests {
    @Test("matches the published check value and the iSCSI test vectors")
    func vectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720, appendix B.4.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
    }

    @Test("gives the same value fed in pieces of any size")
    func incremental() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let whole = CRC32C.checksum(bytes)
        for split in [1, 3, 7, 8, 9, 500, 999] {
            var crc = CRC32C()
            crc.update(bytes[..<split])
            crc.update(bytes[split...])
            #expect(crc.value == whole, "split at \(split)")
        }
    }
}

@Suite("Spool")
struct SpoolTests {
    let dir: SpoolScratchDirectory
    let logger = SpoolFixtures.logger

    init() throws {
        dir = try SpoolScratchDirectory()
    }

    func open(_ limits: SpoolLimits = SpoolLimits(), in directory: SpoolScratchDirectory? = nil) throws(SpoolError) -> Spool {
        try Spool(directory: (directory ?? dir).path, limits: limits, logger: logger)
    }

    /// Limits under which each segment holds `records` records of 100 payload bytes.
    func limits(recordsPerSegment records: Int, maxBytes: Int = 1 << 20) -> SpoolLimits {
        SpoolLimits(maxBytes: maxBytes, segmentBytes: records * SpoolFixtures.recordSize())
    }

    @Test("a new spool makes an agent id and starts at sequence 1")
    func freshIdentity() throws {
        let spool = try open()
        let identity = spool.identity()
        #expect(!identity.agentInstanceID.isEmpty)
        #expect(identity.nextSequence == 1)
        #expect(try spool.recover().isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/agent.json"))
    }

    @Test("a restarted spool returns the unacknowledged records with their sequences and the same agent id")
    func roundTripAcrossRestart() throws {
        let first = try open()
        let id = first.identity().agentInstanceID
        for sequence in UInt64(1)...5 {
            try first.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        try first.acknowledge(sequence: 1)
        try first.acknowledge(sequence: 2)
        first.close()

        let second = try open()
        #expect(second.identity().agentInstanceID == id)
        #expect(second.identity().nextSequence == 6)
        let records = try second.recover()
        #expect(records.map(\.sequence) == [3, 4, 5])
        for record in records {
            #expect(record.payload == SpoolFixtures.payload(record.sequence))
        }
        #expect(second.recoveryReport.problems.isEmpty)
    }

    @Test("the acked file holds the highest contiguously acknowledged sequence")
    func ackedFile() throws {
        let spool = try open()
        for sequence in UInt64(1)...4 {
            try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        try spool.acknowledge(sequence: 2)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/acked"))
        try spool.acknowledge(sequence: 1)
        #expect(String(decoding: try dir.contents("acked"), as: UTF8.self) == "2\n")
        try spool.acknowledge(sequence: 4)
        spool.close()

        // 4 was acknowledged out of order, in memory only: it comes back, and the hub
        // recognises it.
        #expect(try open().recover().map(\.sequence) == [3, 4])
    }

    @Test("a torn tail is cut off and every complete record is recovered")
    func tornTail() throws {
        let spool = try open()
        for sequence in UInt64(1)...3 {
            try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        spool.close()
        let segment = try #require(try dir.segments().last)
        let bytes = try dir.contents(segment)
        let twoRecords = 2 * SpoolFixtures.recordSize()
        try dir.write(segment, Array(bytes[..<(twoRecords + 37)]))

        let reopened = try open()
        #expect(try reopened.recover().map(\.sequence) == [1, 2])
        #expect(try dir.size(segment) == twoRecords)
        let report = reopened.recoveryReport
        #expect(report.truncatedBytes == 37)
        #expect(report.droppedRecords == 0)
        #expect(report.problems.map(\.code) == [.tornTail])
        #expect(report.problems.first?.offset == Int64(twoRecords))

        // The torn record's sequence is not reused, and appending carries on cleanly.
        #expect(reopened.identity().nextSequence == 3)
        try reopened.append(sequence: 3, payload: SpoolFixtures.payload(3))
        reopened.close()
        #expect(try open().recover().map(\.sequence) == [1, 2, 3])
    }

    @Test("zeros at the end of a segment (blocks allocated before a crash) are a torn tail")
    func zeroFilledTail() throws {
        let spool = try open()
        try spool.append(sequence: 1, payload: SpoolFixtures.payload(1))
        spool.close()
        let segment = try #require(try dir.segments().last)
        try dir.write(segment, try dir.contents(segment) + [UInt8](repeating: 0, count: 4096))

        let reopened = try open()
        #expect(try reopened.recover().map(\.sequence) == [1])
        #expect(reopened.recoveryReport.problems.map(\.code) == [.tornTail])
        #expect(try dir.size(segment) == SpoolFixtures.recordSize())
    }

    @Test("a flipped byte mid-segment drops the rest of that segment, counted, and keeps later segments")
    func flippedByte() throws {
        let spool = try open(limits(recordsPerSegment: 3))
        for sequence in UInt64(1)...8 {
            try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        spool.close()
        #expect(try dir.segments() == ["spool-1.log", "spool-4.log", "spool-7.log"])
        var bytes = try dir.contents("spool-1.log")
        let second = SpoolFixtures.recordSize()
        bytes[second + SpoolRecordFormat.headerSize + 10] ^= 0x04
        try dir.write("spool-1.log", bytes)

        let reopened = try open(limits(recordsPerSegment: 3))
        #expect(try reopened.recover().map(\.sequence) == [1, 4, 5, 6, 7, 8])
        let report = reopened.recoveryReport
        #expect(report.droppedRecords == 2)
        #expect(report.truncatedBytes == 2 * SpoolFixtures.recordSize())
        let problem = try #require(report.problems.first)
        #expect(problem.code == .corruptRecord)
        #expect(problem.description == "spool \(dir.path)/spool-1.log: record at offset \(second) has a bad checksum; dropped 1 record after it")
        #expect(try dir.size("spool-1.log") == second)
        #expect(reopened.identity().nextSequence == 9)
    }

    @Test("a damaged length field still lets recovery find and count the records after it")
    func damagedLength() throws {
        let spool = try open(limits(recordsPerSegment: 3))
        for sequence in UInt64(1)...4 {
            try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        spool.close()
        var bytes = try dir.contents("spool-1.log")
        bytes[4 + 3] = 0x7F // record 1's length becomes ~2 GB
        try dir.write("spool-1.log", bytes)

        let reopened = try open(limits(recordsPerSegment: 3))
        #expect(try reopened.recover().map(\.sequence) == [4])
        let problem = try #require(reopened.recoveryReport.problems.first)
        #expect(problem.code == .corruptRecord)
        #expect(problem.message.hasSuffix("dropped 2 records after it"))
        #expect(reopened.recoveryReport.droppedRecords == 3)
        #expect(try dir.segments() == ["spool-4.log"])
    }

    @Test("a segment is deleted once all its records are acknowledged; the newest always stays")
    func segmentDeletion() throws {
        let spool = try open(limits(recordsPerSegment: 3))
        for sequence in UInt64(1)...7 {
            try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        #expect(try dir.segments() == ["spool-1.log", "spool-4.log", "spool-7.log"])
        try spool.acknowledge(sequence: 1)
        try spool.acknowledge(sequence: 3)
        #expect(try dir.segments() == ["spool-1.log", "spool-4.log", "spool-7.log"])
        try spool.acknowledge(sequence: 2)
        #expect(try dir.segments() == ["spool-4.log", "spool-7.log"])
        for sequence in UInt64(4)...7 {
            try spool.acknowledge(sequence: sequence)
        }
        #expect(try dir.segments() == ["spool-7.log"])
        #expect(spool.stats.unacknowledgedRecords == 0)
        spool.close()

        // Everything acknowledged: a restart still continues the sequence.
        let reopened = try open(limits(recordsPerSegment: 3))
        #expect(try reopened.recover().isEmpty)
        #expect(reopened.identity().nextSequence == 8)
    }

    @Test("over its size bound the spool drops its oldest segment and reports what it held")
    func sizeBound() throws {
        let recordSize = SpoolFixtures.recordSize()
        let limits = SpoolLimits(maxBytes: 9 * recordSize, segmentBytes: 3 * recordSize)
        let spool = try open(limits)
        var dropped = [UInt64]()
        for sequence in UInt64(1)...9 {
            dropped += try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence))
        }
        #expect(dropped.isEmpty)
        try spool.acknowledge(sequence: 5)
        dropped += try spool.append(sequence: 10, payload: SpoolFixtures.payload(10))
        #expect(dropped == [1, 2, 3])
        dropped += try spool.append(sequence: 11, payload: SpoolFixtures.payload(11))
        dropped += try spool.append(sequence: 12, payload: SpoolFixtures.payload(12))
        dropped += try spool.append(sequence: 13, payload: SpoolFixtures.payload(13))
        #expect(dropped == [1, 2, 3, 4, 6])
        #expect(try dir.segments() == ["spool-7.log", "spool-10.log", "spool-13.log"])
        #expect(spool.stats.bytes <= limits.maxBytes)
        #expect(spool.stats.droppedRecords == 5)
        #expect(try spool.recover().map(\.sequence) == [7, 8, 9, 10, 11, 12, 13])
    }

    @Test("records survive the process dying without closing the spool")
    func killMinus9() throws {
        let spool = try open()
        let id = spool.identity().agentInstanceID
        for sequence in UInt64(1)...3 {
            try spool.append(sequence: sequence, payload: SpoolFixtures.payload(sequence, size: 20_000))
        }
        try spool.acknowledge(sequence: 1)
        // No close, no deinit: copy the files as they are, as the next process finds them.
        let copy = try SpoolScratchDirectory()
        try dir.copy(to: copy)

        let recovered = try open(in: copy)
        #expect(recovered.identity().agentInstanceID == id)
        #expect(recovered.identity().nextSequence == 4)
        let records = try recovered.recover()
        #expect(records.map(\.sequence) == [2, 3])
        #expect(records.allSatisfy { $0.payload == SpoolFixtures.payload($0.sequence, size: 20_000) })
        #expect(recovered.recoveryReport.problems.isEmpty)
        withExtendedLifetime(spool) {}
    }

    @Test("a second process cannot use the same spool directory")
    func locked() throws {
        let spool = try open()
        do throws(SpoolError) {
            _ = try open()
            Issue.record("opened a spool another one holds")
        } catch {
            #expect(error.code == .locked)
        }
        spool.close()
        _ = try open()
    }

    @Test("sequences must increase")
    func sequenceOrder() throws {
        let spool = try open()
        try spool.append(sequence: 5, payload: SpoolFixtures.payload(5))
        do throws(SpoolError) {
            try spool.append(sequence: 5, payload: SpoolFixtures.payload(5))
            Issue.record("appended sequence 5 twice")
        } catch {
            #expect(error.code == .sequenceOutOfOrder)
        }
        try spool.append(sequence: 6, payload: SpoolFixtures.payload(6))
        #expect(spool.unacknowledgedSequences() == [5, 6])
    }

    @Test("a damaged agent.json gives a new identity instead of failing")
    func damagedIdentity() throws {
        let first = try open()
        let id = first.identity().agentInstanceID
        first.close()
        try dir.write("agent.json", Array("{\"agentInst".utf8))
        let second = try open()
        #expect(second.identity().agentInstanceID != id)
        #expect(second.recoveryReport.problems.map(\.code) == [.badIdentity])
    }

    @Test("drop counts saved in the spool survive a restart")
    func savedDropCounts() throws {
        let spool = try open()
        try spool.saveDropCounts(batches: 3, samples: 120)
        spool.close()
        #expect(try open().savedDropCounts() == (3, 120))
    }

    /// Measures one append (one pwrite + fdatasync) of a 20 KB record on the disk holding the
    /// temporary directory. Opt-in: `KUBEHERO_SPOOL_BENCH=1 swift test --filter Spool`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["KUBEHERO_SPOOL_BENCH"] != nil))
    func appendLatency() throws {
        let spool = try open()
        let payload = SpoolFixtures.payload(0, size: 20_000)
        var samples = [Duration]()
        let clock = ContinuousClock()
        for sequence in UInt64(1)...500 {
            samples.append(try clock.measure { try spool.append(sequence: sequence, payload: payload) })
        }
        samples.sort()
        func micros(_ d: Duration) -> Int64 { d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000 }
        let mean = samples.reduce(Duration.zero, +) / samples.count
        print("spool append+fsync of 20 KB, \(samples.count) runs: mean \(micros(mean)) us, p50 \(micros(samples[samples.count / 2])) us, p90 \(micros(samples[samples.count * 9 / 10])) us, p99 \(micros(samples[samples.count * 99 / 100])) us, max \(micros(samples.last!)) us")
    }
}
