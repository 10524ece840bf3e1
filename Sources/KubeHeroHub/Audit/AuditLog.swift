import Crypto
import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The hub's side of the audit log: its keys, the Merkle tree over the stored entries (kept in
/// memory, 64 bytes per entry), checkpoint signing and proofs. Entries themselves are appended
/// by the store, in the transaction of the action they record.
public final class AuditLog: Sendable {
    public let store: any HubStore
    public let signer: LogSigner
    /// Every key this log has signed with (the current one last): what verifiers need.
    public let verifierKeys: [LogVerifierKey]
    private let hmacKey: SymmetricKey
    private let tree = Mutex(MerkleTree())
    /// Set when the stored entries disagree with a checkpoint this log signed: from then on it
    /// signs nothing (a new checkpoint would fork the log) and says so in metrics and logs.
    private let integrityFailure = Mutex<String?>(nil)
    private let logger: Logger

    public var origin: String { signer.name }

    public init(store: any HubStore, keys: AuditKeys, logger: Logger) {
        self.store = store
        self.signer = keys.signer
        self.verifierKeys = keys.verifiers
        self.hmacKey = keys.hmacKey
        self.logger = logger
    }

    /// A keyed hash of a secret: lets an auditor match a token they hold against the log,
    /// without the log holding anything a guess could be checked against offline.
    public func keyedHash(_ secret: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(secret.utf8), using: hmacKey))
    }

    /// The entry of a token's creation: never the secret, only its keyed hash.
    public static func tokenCreated(_ token: TokenRecord, secretHash: String, actor: AuditActor, at: Int64) -> AuditDraft {
        AuditDraft(timeMillis: at, actor: actor, action: .tokenCreate, subject: "token/\(token.id)", details: [
            "name": .string(token.name), "role": .string(token.role.rawValue), "secretHMAC": .string(secretHash),
        ])
    }

    public var integrityProblem: String? { integrityFailure.withLock { $0 } }

    /// Reads the stored leaf hashes the in-memory tree does not have yet; returns the tree size.
    @discardableResult
    public func sync() async throws -> UInt64 {
        while true {
            let from = tree.withLock { $0.size }
            let leaves = try await store.auditLeafHashes(from: from, limit: 65_536)
            if leaves.isEmpty { return from }
            tree.withLock { t in
                // Another caller may have added these meanwhile.
                guard t.size == from else { return }
                for l in leaves { t.append(l) }
            }
        }
    }

    /// At start: loads the tree and checks it against the newest signed checkpoint.
    public func open() async throws {
        let size = try await sync()
        guard let latest = try await store.latestCheckpoint() else { return }
        if let problem = try check(latest, treeSize: size) {
            integrityFailure.withLock { $0 = problem }
            logger.critical("audit log integrity check failed; no checkpoints will be signed", metadata: ["problem": "\(problem)"])
        } else {
            logger.info("audit log loaded", metadata: ["entries": "\(size)", "checkpoint": "\(latest.size)"])
        }
    }

    private func check(_ record: CheckpointRecord, treeSize: UInt64) throws -> String? {
        let note = try SignedNote(parsing: record.note)
        let checkpoint = try Checkpoint(parsing: note.text)
        guard checkpoint.size <= treeSize else {
            return "the log holds \(treeSize) entries but a checkpoint of size \(checkpoint.size) was signed: entries were removed"
        }
        let root = tree.withLock { $0.root(size: checkpoint.size) }
        guard root == checkpoint.root else {
            return "the first \(checkpoint.size) entries hash to \(root.hex), but the checkpoint signed for them says \(checkpoint.root.hex)"
        }
        return nil
    }

    /// Signs a checkpoint for the current size if it grew since the last one; returns it if signed.
    @discardableResult
    public func signCheckpointIfNeeded(nowMillis: Int64) async throws -> CheckpointRecord? {
        guard integrityProblem == nil else { return nil }
        let size = try await sync()
        let latest = try await store.latestCheckpoint()
        if let latest, latest.size >= size { return nil }
        if let latest, let problem = try check(latest, treeSize: size) {
            integrityFailure.withLock { $0 = problem }
            logger.critical("audit log integrity check failed; no checkpoints will be signed", metadata: ["problem": "\(problem)"])
            return nil
        }
        let root = tree.withLock { $0.root(size: size) }
        let note = try signer.sign(Checkpoint(origin: origin, size: size, root: root).text)
        let record = CheckpointRecord(size: size, note: note, createdAtMillis: nowMillis)
        do {
            try await store.addCheckpoint(record)
        } catch let error as StoreError where error.code == .conflict {
            return nil  // another signer got there first; same size, same root
        }
        return record
    }

    public struct ProofError: Error, CustomStringConvertible {
        public var description: String
    }

    public func inclusionProof(index: UInt64, size: UInt64) async throws -> (leaf: TreeHash, hashes: [TreeHash]) {
        let available = try await sync()
        guard size <= available else { throw ProofError(description: "size \(size) is larger than the log (\(available) entries)") }
        guard index < size else { throw ProofError(description: "index \(index) is not below size \(size)") }
        return tree.withLock { ($0.leaf(at: index), $0.inclusionProof(index: index, size: size)) }
    }

    public func consistencyProof(from: UInt64, to: UInt64) async throws -> [TreeHash] {
        let available = try await sync()
        guard to <= available else { throw ProofError(description: "size \(to) is larger than the log (\(available) entries)") }
        guard from <= to else { throw ProofError(description: "from \(from) is larger than to \(to)") }
        return tree.withLock { $0.consistencyProof(oldSize: from, newSize: to) }
    }
}

/// Signs a checkpoint whenever the log has grown, at most every `interval` (default 500 ms, so
/// at least one a second while entries are added).
public struct CheckpointService: Service {
    let log: AuditLog
    let interval: Duration
    let now: @Sendable () -> Int64
    let logger: Logger

    public init(log: AuditLog, interval: Duration, now: @escaping @Sendable () -> Int64, logger: Logger) {
        self.log = log
        self.interval = interval
        self.now = now
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                do {
                    try await log.signCheckpointIfNeeded(nowMillis: now())
                    if failing { logger.info("audit checkpoints signed again") }
                    failing = false
                } catch is CancellationError {
                    break
                } catch {
                    if !failing { logger.error("cannot sign an audit checkpoint; retrying", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                try? await Task.sleep(for: interval)
            }
        }
        // A last checkpoint for what was appended just before shutdown.
        _ = try? await log.signCheckpointIfNeeded(nowMillis: now())
    }
}

/// The audit log's keys as kept in the data dir.
///
/// ```
/// DIR/audit-log.key   the current Ed25519 signing key, signed-note format (0600)
/// DIR/audit-log.pub   every verifier key the log has used, one per line, current last
/// DIR/audit-hmac.key  the key of the keyed hashes of token secrets (0600)
/// ```
public struct AuditKeys: Sendable {
    public var signer: LogSigner
    public var verifiers: [LogVerifierKey]
    public var hmacKey: SymmetricKey

    public static func signerPath(_ dir: String) -> String { dir + "/audit-log.key" }
    public static func verifiersPath(_ dir: String) -> String { dir + "/audit-log.pub" }
    public static func hmacPath(_ dir: String) -> String { dir + "/audit-hmac.key" }

    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates new keys in `dir`; the origin (key name) is `kubehero.io/audit/<random>`.
    public static func create(in dir: String) throws -> AuditKeys {
        let origin = "kubehero.io/audit/" + Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
        let signer = try LogSigner.generate(name: origin)
        let hmac = SymmetricKey(size: .bits256)
        try HubDataDir.write(signer.signerKeyText + "\n", to: signerPath(dir), mode: 0o600)
        try HubDataDir.write(signer.verifierKey.description + "\n", to: verifiersPath(dir), mode: 0o644)
        try HubDataDir.write(hmac.withUnsafeBytes { Data($0).base64EncodedString() } + "\n", to: hmacPath(dir), mode: 0o600)
        return AuditKeys(signer: signer, verifiers: [signer.verifierKey], hmacKey: hmac)
    }

    public static func exist(in dir: String) -> Bool {
        FileManager.default.fileExists(atPath: signerPath(dir))
    }

    public static func load(from dir: String) throws -> AuditKeys {
        func read(_ path: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else { throw Error(description: "cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        let signer: LogSigner
        do {
            signer = try LogSigner(try read(signerPath(dir)))
        } catch {
            throw Error(description: "\(signerPath(dir)): \(error)")
        }
        var verifiers: [LogVerifierKey] = []
        for (n, line) in try read(verifiersPath(dir)).split(separator: "\n").enumerated() where !line.isEmpty {
            do {
                verifiers.append(try LogVerifierKey(String(line)))
            } catch {
                throw Error(description: "\(verifiersPath(dir)) line \(n + 1): \(error)")
            }
        }
        guard verifiers.contains(signer.verifierKey) else {
            throw Error(description: "\(verifiersPath(dir)) does not list the current signing key \(signer.verifierKey.id)")
        }
        guard let raw = Data(base64Encoded: String(try read(hmacPath(dir)).filter { !$0.isWhitespace })), raw.count == 32 else {
            throw Error(description: "\(hmacPath(dir)) is not base64 of 32 bytes")
        }
        return AuditKeys(signer: signer, verifiers: verifiers, hmacKey: SymmetricKey(data: raw))
    }

    /// Replaces the signing key with a new one of the same name; old keys stay in the verifier
    /// list so that checkpoints they signed keep verifying.
    public static func rotate(in dir: String) throws -> (old: LogVerifierKey, new: LogVerifierKey) {
        let current = try load(from: dir)
        let next = try LogSigner.generate(name: current.signer.name)
        try install(next, replacing: current, in: dir)
        return (current.signer.verifierKey, next.verifierKey)
    }

    /// Makes `next` the signing key; `current`'s verifier keys stay listed.
    static func install(_ next: LogSigner, replacing current: AuditKeys, in dir: String) throws {
        let verifiers = current.verifiers + [next.verifierKey]
        try HubDataDir.write(verifiers.map(\.description).joined(separator: "\n") + "\n", to: verifiersPath(dir), mode: 0o644)
        try HubDataDir.write(next.signerKeyText + "\n", to: signerPath(dir), mode: 0o600)
    }
}
