/// The export format, shared by `kubehero audit export`, `forward` and offline `verify`:
///
/// ```
/// DIR/entries.jsonl      one line per entry, in index order:
///                        {"leafHash":"<64 hex>","entry":<the entry's canonical JSON>}
/// DIR/checkpoints.jsonl  one line per signed checkpoint: {"note":"<signed note>","size":N}
/// DIR/keys.txt           the log's verifier keys (informational: verify with a key you trust)
/// ```
///
/// The entry is embedded byte for byte, so the line is valid JSON and the leaf hash is computed
/// over exactly the bytes the hub hashed.
public enum AuditExport {
    public static let entriesFile = "entries.jsonl"
    public static let checkpointsFile = "checkpoints.jsonl"
    public static let keysFile = "keys.txt"

    private static let prefix = Array("{\"leafHash\":\"".utf8)
    private static let middle = Array("\",\"entry\":".utf8)

    /// One `entries.jsonl` line, without its newline.
    public static func line(leafHash: TreeHash, entryBytes: [UInt8]) -> [UInt8] {
        prefix + Array(leafHash.hex.utf8) + middle + entryBytes + [UInt8(ascii: "}")]
    }

    /// The recorded leaf hash and the entry bytes of one line.
    public static func parseLine(_ line: ArraySlice<UInt8>) throws(AuditFormatError) -> (leafHash: TreeHash, entryBytes: [UInt8]) {
        let b = line
        let s = b.startIndex
        let hexStart = s + prefix.count, hexEnd = hexStart + 64, entryStart = hexEnd + middle.count
        guard b.count > entryStart - s + 1, b[s..<hexStart].elementsEqual(prefix), b[hexEnd..<entryStart].elementsEqual(middle),
              b.last == UInt8(ascii: "}")
        else { throw AuditFormatError("line is not {\"leafHash\":\"<hex>\",\"entry\":{...}}") }
        guard let hash = TreeHash(lowercaseHex: b[hexStart..<hexEnd]) else {
            throw AuditFormatError("leafHash is not 64 lowercase hex digits")
        }
        return (hash, Array(b[entryStart..<(b.endIndex - 1)]))
    }

    public static func parseLine(_ line: [UInt8]) throws(AuditFormatError) -> (leafHash: TreeHash, entryBytes: [UInt8]) {
        try parseLine(line[...])
    }

    /// One `checkpoints.jsonl` line, without its newline.
    public static func checkpointLine(note: String, size: UInt64) -> [UInt8] {
        CanonicalJSON.encode(.object(["note": .string(note), "size": .int(Int64(size))]))
    }

    public static func parseCheckpointLine(_ line: some Collection<UInt8>) throws(AuditFormatError) -> String {
        guard let value = try? CanonicalJSON.parse(line), let note = value["note"]?.stringValue else {
            throw AuditFormatError("checkpoint line is not {\"note\":\"...\",\"size\":N}")
        }
        return note
    }
}

/// The first thing wrong with a log, named by the first index it affects.
public struct AuditProblem: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: String, Hashable, Sendable {
        case malformed = "malformed entry"
        case hashMismatch = "hash mismatch"
        case missingEntry = "missing entry"
        case outOfOrder = "entry out of order"
        case badSignature = "bad signature"
        case unknownKey = "unknown key"
        case fork = "fork"
        case badCheckpoint = "malformed checkpoint"
    }

    public var index: UInt64
    public var reason: Reason
    public var detail: String

    public init(index: UInt64, reason: Reason, detail: String) {
        self.index = index
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "index \(index): \(reason.rawValue): \(detail)" }
}

/// What a successful verification established.
public struct AuditVerification: Hashable, Sendable {
    /// Entries read, all with recomputed hashes.
    public var entries: UInt64
    /// Checkpoints whose signature, root and mutual consistency were checked.
    public var checkpoints: Int
    /// The size and root of the largest verified checkpoint (0 and the empty root if none).
    public var verifiedSize: UInt64
    public var verifiedRoot: TreeHash
    /// Entries past the largest checkpoint: not yet vouched for by a signature.
    public var uncoveredEntries: UInt64
    /// Ids (`name+hash`) of the keys that signed the checkpoints.
    public var keysUsed: [String]
}

/// Verifies a log from its entries and checkpoints alone, with keys the verifier trusts:
/// recomputes every leaf hash and the tree, checks every checkpoint's signature and root, and
/// the consistency of consecutive checkpoints. Reports the problem with the smallest index.
public struct AuditVerifier: Sendable {
    public var keys: [LogVerifierKey]

    public init(keys: [LogVerifierKey]) { self.keys = keys }

    /// One entry as read: its position in the input, the leaf hash recorded next to it (if
    /// any) and its bytes, or why its line could not be read.
    public struct Input: Sendable {
        public var recordedLeafHash: TreeHash?
        public var bytes: [UInt8]
        public var lineError: String?

        public init(recordedLeafHash: TreeHash?, bytes: [UInt8], lineError: String? = nil) {
            self.recordedLeafHash = recordedLeafHash
            self.bytes = bytes
            self.lineError = lineError
        }

        /// An `entries.jsonl` line.
        public init(exportLine: ArraySlice<UInt8>) {
            do {
                let (hash, bytes) = try AuditExport.parseLine(exportLine)
                self.init(recordedLeafHash: hash, bytes: bytes)
            } catch {
                self.init(recordedLeafHash: nil, bytes: Array(exportLine), lineError: error.description)
            }
        }

        public init(exportLine: [UInt8]) { self.init(exportLine: exportLine[...]) }
    }

    public func verify(entries: [Input], checkpointNotes: [String]) -> Result<AuditVerification, AuditProblem> {
        var problems: [AuditProblem] = []
        func report(_ p: AuditProblem) { problems.append(p) }

        // 1. Entries: readable, hashes as recorded, indexes 0, 1, 2, ... in order.
        var tree = MerkleTree()
        var indexAt: [UInt64] = []
        indexAt.reserveCapacity(entries.count)
        var continuityBroken = false
        for (position, input) in entries.enumerated() {
            let k = UInt64(position)
            let leaf = Merkle.leafHash(input.bytes)
            tree.append(leaf)
            if let e = input.lineError {
                report(AuditProblem(index: k, reason: .malformed, detail: "line \(position + 1): \(e)"))
                indexAt.append(UInt64.max)
                continue
            }
            if let recorded = input.recordedLeafHash, recorded != leaf {
                report(AuditProblem(index: k, reason: .hashMismatch, detail: "the entry on line \(position + 1) hashes to \(leaf.hex), the log recorded \(recorded.hex)"))
            }
            // A validating scan that builds nothing: the leaf hash already covers every byte.
            guard let index = CanonicalJSON.topLevelInteger("index", in: input.bytes), index >= 0 else {
                report(AuditProblem(index: k, reason: .malformed, detail: "line \(position + 1): entry is not a JSON object with an index"))
                indexAt.append(UInt64.max)
                continue
            }
            indexAt.append(UInt64(index))
        }
        let present = Set(indexAt)
        for (position, index) in indexAt.enumerated() where index != UInt64(position) && index != UInt64.max && !continuityBroken {
            continuityBroken = true
            let k = UInt64(position)
            if present.contains(k) {
                report(AuditProblem(index: k, reason: .outOfOrder, detail: "line \(position + 1) holds entry \(index) where entry \(k) belongs"))
            } else {
                report(AuditProblem(index: k, reason: .missingEntry, detail: "entry \(k) is not in the log (line \(position + 1) holds entry \(index))"))
            }
        }

        let firstEntryProblem = problems.map(\.index).min() ?? UInt64.max

        // 2. Checkpoints: parse, signature by a trusted key.
        var valid: [(checkpoint: Checkpoint, key: String, note: Int)] = []
        var rejected: [(size: UInt64, problem: (AuditProblem.Reason, String))] = []
        for (n, noteText) in checkpointNotes.enumerated() {
            let note: SignedNote
            let checkpoint: Checkpoint
            do {
                note = try SignedNote(parsing: noteText)
                checkpoint = try Checkpoint(parsing: note.text)
            } catch {
                rejected.append((0, (.badCheckpoint, "checkpoint \(n + 1): \(error)")))
                continue
            }
            switch note.verify(with: keys) {
            case .verified(let key):
                valid.append((checkpoint, key.id, n))
            case .badSignature(let key):
                rejected.append((checkpoint.size, (.badSignature, "checkpoint \(n + 1) (size \(checkpoint.size)): signature by \(key.id) does not verify")))
            case .unknownKey(let names):
                rejected.append((checkpoint.size, (.unknownKey, "checkpoint \(n + 1) (size \(checkpoint.size)) is signed only by keys not trusted here: \(names.joined(separator: ", "))")))
            }
        }
        valid.sort { $0.checkpoint.size < $1.checkpoint.size }
        // A rejected checkpoint vouches for nothing: blame the first entry past the largest
        // verified checkpoint below it.
        for r in rejected {
            let before = valid.last { $0.checkpoint.size < r.size }?.checkpoint.size ?? 0
            report(AuditProblem(index: r.size == 0 ? 0 : before, reason: r.problem.0, detail: r.problem.1))
        }

        // 3. Roots against the recomputed tree; consistency of consecutive checkpoints. A root
        // that an entry-level problem already explains is not reported again (with a vaguer index).
        let matches = valid.map { $0.checkpoint.size <= tree.size && tree.root(size: $0.checkpoint.size) == $0.checkpoint.root }
        var previous: Checkpoint?
        for (i, v) in valid.enumerated() {
            let c = v.checkpoint
            let before = previous?.size ?? 0
            if c.size > tree.size {
                report(AuditProblem(index: tree.size, reason: .missingEntry, detail: "checkpoint of size \(c.size) signed by \(v.key) covers entries up to \(c.size - 1), the log ends at \(tree.size)"))
            } else if !matches[i] {
                if firstEntryProblem < c.size {
                    // Explained by a bad entry below this size.
                } else if let p = previous, p.size == c.size {
                    report(AuditProblem(index: before, reason: .fork, detail: "two checkpoints of size \(c.size) with different roots (\(p.root.hex), \(c.root.hex))"))
                } else if matches[(i + 1)...].contains(true) {
                    // A later checkpoint vouches for these entries: this one signed another tree.
                    report(AuditProblem(index: before, reason: .fork, detail: "checkpoint of size \(c.size) signed by \(v.key) has root \(c.root.hex), but the entries that a later checkpoint vouches for give \(tree.root(size: c.size).hex)"))
                } else {
                    report(AuditProblem(index: before, reason: .hashMismatch, detail: "entries \(before)..<\(c.size) do not produce the root signed at size \(c.size) by \(v.key)"))
                }
            } else if let p = previous, p.size <= tree.size {
                let proof = tree.consistencyProof(oldSize: p.size, newSize: c.size)
                if !Merkle.verifyConsistency(oldSize: p.size, newSize: c.size, oldRoot: p.root, newRoot: c.root, proof: proof) {
                    report(AuditProblem(index: p.size, reason: .fork, detail: "checkpoints of size \(p.size) and \(c.size) are not consistent"))
                }
            }
            if c.origin != valid[0].checkpoint.origin {
                report(AuditProblem(index: before, reason: .fork, detail: "checkpoint of size \(c.size) names origin \"\(c.origin)\", earlier ones \"\(valid[0].checkpoint.origin)\""))
            }
            previous = c
        }

        if let first = problems.min(by: { $0.index < $1.index }) { return .failure(first) }
        let last = valid.last?.checkpoint
        return .success(AuditVerification(
            entries: tree.size, checkpoints: valid.count, verifiedSize: last?.size ?? 0,
            verifiedRoot: last?.root ?? Merkle.emptyRoot, uncoveredEntries: tree.size - (last?.size ?? 0),
            keysUsed: Array(Set(valid.map(\.key))).sorted()
        ))
    }
}
