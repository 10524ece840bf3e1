import Foundation
import KubeHeroAudit
import Testing

/// The tamper suite: each alteration of an exported log is detected, naming the first bad
/// index and the reason.
@Suite struct VerifierTests {
    static let origin = "kubehero.io/audit/test"

    /// A log of `count` entries with a signed checkpoint after every `every` entries and at the end.
    struct Log {
        var signer: LogSigner
        var lines: [[UInt8]]
        var notes: [String]
        var entries: [AuditEntry]

        init(count: Int, every: Int = 10, signer: LogSigner? = nil) throws {
            let signer = try signer ?? LogSigner.generate(name: VerifierTests.origin)
            self.signer = signer
            var tree = MerkleTree()
            lines = []
            notes = []
            entries = []
            for i in 0..<count {
                let draft = AuditDraft(
                    timeMillis: 1_790_000_000_000 + Int64(i) * 1000, actor: i % 2 == 0 ? .hub : .token("abcd1234"),
                    action: .clusterRegister, subject: "cluster/c\(i)", details: ["labels": .object(["env": "prod"]), "n": .int(Int64(i))]
                )
                let e = draft.entry(index: UInt64(i))
                entries.append(e)
                tree.append(e.leafHash)
                lines.append(AuditExport.line(leafHash: e.leafHash, entryBytes: e.bytes))
                if (i + 1) % every == 0 || i == count - 1 {
                    try notes.append(signer.sign(Checkpoint(origin: VerifierTests.origin, size: tree.size, root: tree.root).text))
                }
            }
        }

        func verify(keys: [LogVerifierKey]? = nil) -> Result<AuditVerification, AuditProblem> {
            AuditVerifier(keys: keys ?? [signer.verifierKey]).verify(entries: lines.map(AuditVerifier.Input.init(exportLine:)), checkpointNotes: notes)
        }

        func problem() -> AuditProblem? {
            if case .failure(let p) = verify() { return p }
            return nil
        }
    }

    @Test func anUntouchedLogVerifies() throws {
        let log = try Log(count: 57)
        let v = try log.verify().get()
        #expect(v.entries == 57)
        #expect(v.checkpoints == 6)
        #expect(v.verifiedSize == 57)
        #expect(v.uncoveredEntries == 0)
        #expect(v.keysUsed == [log.signer.verifierKey.id])
        let parsed = try AuditEntry(bytes: log.entries[3].bytes)
        #expect(parsed == log.entries[3])
    }

    @Test func oneFlippedByteIsAHashMismatchAtItsIndex() throws {
        var log = try Log(count: 40)
        let line = log.lines[17]
        let at = line.count - 10  // inside the entry's JSON (its details)
        log.lines[17][at] ^= 0x01
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.index == 17)
        #expect(p.reason == .hashMismatch || p.reason == .malformed)
        #expect(p.description.hasPrefix("index 17: "))
    }

    @Test func everyFlippedByteIsDetectedAtItsEntry() throws {
        let original = try Log(count: 12, every: 4)
        for i in [0, 5, 11] {
            for at in 0..<original.lines[i].count {
                var log = original
                log.lines[i][at] ^= 0x20
                let p = log.problem()
                #expect(p?.index == UInt64(i), "flip at entry \(i) byte \(at): \(p.map(String.init(describing:)) ?? "not detected")")
            }
        }
    }

    @Test func anEntryChangedTogetherWithItsRecordedHashFailsAtItsCheckpointRange() throws {
        var log = try Log(count: 30)
        let changed = AuditDraft(timeMillis: 0, actor: .hub, action: .clusterRemove, subject: "cluster/forged").entry(index: 23)
        log.lines[23] = AuditExport.line(leafHash: changed.leafHash, entryBytes: changed.bytes)
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.reason == .hashMismatch)
        #expect(p.index == 20)  // the first entry not vouched for by the checkpoint of size 20
    }

    @Test func aDeletedEntryIsMissing() throws {
        var log = try Log(count: 30)
        log.lines.remove(at: 12)
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.index == 12)
        #expect(p.reason == .missingEntry)
    }

    @Test func twoSwappedEntriesAreOutOfOrder() throws {
        var log = try Log(count: 30)
        log.lines.swapAt(8, 9)
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.index == 8)
        #expect(p.reason == .outOfOrder)
    }

    @Test func aTruncatedTailIsMissingEntries() throws {
        var log = try Log(count: 30)
        log.lines.removeLast(4)
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.index == 26)
        #expect(p.reason == .missingEntry)
    }

    @Test func entriesAppendedUnderAForeignKeyAreAnUnknownKey() throws {
        var log = try Log(count: 30)
        // Someone without the log key appends an entry and signs a checkpoint with their own.
        let mallory = try LogSigner.generate(name: Self.origin)
        var tree = MerkleTree(leaves: log.entries.map(\.leafHash))
        let forged = AuditDraft(timeMillis: 0, actor: .hub, action: .tokenCreate, subject: "token/evil").entry(index: 30)
        tree.append(forged.leafHash)
        log.lines.append(AuditExport.line(leafHash: forged.leafHash, entryBytes: forged.bytes))
        log.notes.append(try mallory.sign(Checkpoint(origin: Self.origin, size: 31, root: tree.root).text))
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.index == 30)
        #expect(p.reason == .unknownKey)
    }

    @Test func aCheckpointWithAnAlteredSignatureIsABadSignature() throws {
        var log = try Log(count: 30)
        log.notes[1] = log.notes[1].replacingOccurrences(of: "\n20\n", with: "\n21\n")
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.reason == .badSignature)
        #expect(p.index == 10)
    }

    @Test func aReplacedCheckpointWithTheSameSizeAndAnotherRootIsAFork() throws {
        var log = try Log(count: 30)
        // The log's own key signs a different tree of size 20 (a split view).
        var other = MerkleTree(leaves: log.entries.prefix(19).map(\.leafHash))
        other.append(AuditDraft(timeMillis: 0, actor: .hub, action: .clusterRemove, subject: "cluster/x").entry(index: 19).leafHash)
        log.notes[1] = try log.signer.sign(Checkpoint(origin: Self.origin, size: 20, root: other.root).text)
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.reason == .fork)
        #expect(p.index == 10)
    }

    @Test func twoCheckpointsOfOneSizeWithDifferentRootsAreAFork() throws {
        var log = try Log(count: 30)
        var other = MerkleTree(leaves: log.entries.prefix(29).map(\.leafHash))
        other.append(AuditDraft(timeMillis: 0, actor: .hub, action: .clusterRemove, subject: "cluster/x").entry(index: 29).leafHash)
        log.notes.append(try log.signer.sign(Checkpoint(origin: Self.origin, size: 30, root: other.root).text))
        let p = try #require(log.problem() as AuditProblem?)
        #expect(p.reason == .fork)
    }

    @Test func rotatedKeysKeepOldCheckpointsVerifiable() throws {
        var log = try Log(count: 20)
        let newKey = try LogSigner.generate(name: Self.origin)
        var tree = MerkleTree(leaves: log.entries.map(\.leafHash))
        for i in 20..<25 {
            let e = AuditDraft(timeMillis: 0, actor: .hub, action: .logKeyRotate, subject: "audit").entry(index: UInt64(i))
            tree.append(e.leafHash)
            log.lines.append(AuditExport.line(leafHash: e.leafHash, entryBytes: e.bytes))
        }
        log.notes.append(try newKey.sign(Checkpoint(origin: Self.origin, size: 25, root: tree.root).text))
        let v = try log.verify(keys: [log.signer.verifierKey, newKey.verifierKey]).get()
        #expect(v.verifiedSize == 25)
        #expect(v.keysUsed.count == 2)
        // Without the new key the newest checkpoint is not trusted.
        if case .failure(let p) = log.verify(keys: [log.signer.verifierKey]) {
            #expect(p.reason == .unknownKey)
            #expect(p.index == 20)
        } else {
            Issue.record("a checkpoint signed by an untrusted key must fail")
        }
    }

    @Test func entriesPastTheLastCheckpointAreReportedAsUncovered() throws {
        var log = try Log(count: 25)
        log.notes.removeLast()
        let v = try log.verify().get()
        #expect(v.verifiedSize == 20)
        #expect(v.uncoveredEntries == 5)
    }
}
