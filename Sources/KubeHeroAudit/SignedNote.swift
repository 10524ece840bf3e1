import Crypto

import Foundation

/// Why a key, note or checkpoint could not be read.
public struct NoteError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Ed25519 key identity in the C2SP signed-note format: the key hash is the first four bytes of
/// SHA-256(name || 0x0A || 0x01 || public key).
enum NoteKey {
    static let ed25519: UInt8 = 0x01

    static func keyHash(name: String, publicKey: [UInt8]) -> UInt32 {
        var h = SHA256()
        h.update(data: Array(name.utf8) + [0x0A, ed25519] + publicKey)
        return h.finalize().withUnsafeBytes { d in d.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
    }

    /// Key names: non-empty, no whitespace, no '+' (C2SP signed-note).
    static func checkName(_ name: String) throws(NoteError) {
        guard !name.isEmpty, name.utf8.count <= 255,
              !name.unicodeScalars.contains(where: { $0 == "+" || $0.properties.isWhitespace })
        else { throw NoteError("key name \"\(name)\" must be non-empty, without spaces or '+'") }
    }

    static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}

/// A log's public key, as a verifier holds it: `name+hash+base64(0x01 || key)`.
public struct LogVerifierKey: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let keyHash: UInt32
    public let publicKey: [UInt8]

    public init(_ text: String) throws(NoteError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw NoteError("verifier key must be NAME+HASH+KEY, got \(parts.count) '+'-separated parts") }
        let name = String(parts[0])
        try NoteKey.checkName(name)
        guard parts[1].count == 8, let hash = UInt32(parts[1], radix: 16) else {
            throw NoteError("verifier key \(name): hash \"\(parts[1])\" is not 8 hex digits")
        }
        guard let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == NoteKey.ed25519 else {
            throw NoteError("verifier key \(name): key is not base64 of an Ed25519 public key (0x01 + 32 bytes)")
        }
        let key = Array(raw.dropFirst())
        guard NoteKey.keyHash(name: name, publicKey: key) == hash else {
            throw NoteError("verifier key \(name): hash \(parts[1]) does not match the key")
        }
        self.name = name
        self.keyHash = hash
        self.publicKey = key
    }

    init(name: String, publicKey: [UInt8]) {
        self.name = name
        self.publicKey = publicKey
        self.keyHash = NoteKey.keyHash(name: name, publicKey: publicKey)
    }

    /// `name+hash`: what error messages and logs call the key.
    public var id: String { "\(name)+\(NoteKey.hex8(keyHash))" }

    public var description: String {
        "\(id)+\(Data([NoteKey.ed25519] + publicKey).base64EncodedString())"
    }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: message)
    }
}

/// A log's private key: `PRIVATE+KEY+name+hash+base64(0x01 || seed)`. Signs notes.
public struct LogSigner: Sendable {
    public let verifierKey: LogVerifierKey
    private let key: Curve25519.Signing.PrivateKey

    public var name: String { verifierKey.name }

    public static func generate(name: String) throws(NoteError) -> LogSigner {
        try NoteKey.checkName(name)
        return LogSigner(key: Curve25519.Signing.PrivateKey(), name: name)
    }

    private init(key: Curve25519.Signing.PrivateKey, name: String) {
        self.key = key
        self.verifierKey = LogVerifierKey(name: name, publicKey: Array(key.publicKey.rawRepresentation))
    }

    public init(_ text: String) throws(NoteError) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY" else {
            throw NoteError("signer key must be PRIVATE+KEY+NAME+HASH+KEY")
        }
        let name = String(parts[2])
        try NoteKey.checkName(name)
        guard let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == NoteKey.ed25519,
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
        else { throw NoteError("signer key \(name): not an Ed25519 private key") }
        self.init(key: key, name: name)
        guard NoteKey.hex8(verifierKey.keyHash) == parts[3] else {
            throw NoteError("signer key \(name): hash \(parts[3]) does not match the key")
        }
    }

    public var signerKeyText: String {
        "PRIVATE+KEY+\(verifierKey.id)+\(Data([NoteKey.ed25519] + Array(key.rawRepresentation)).base64EncodedString())"
    }

    /// The signed note: `text` (ending in a newline), a blank line, and this key's signature line.
    public func sign(_ text: String) throws -> String {
        precondition(text.hasSuffix("\n"), "note text ends with a newline")
        let signature = try key.signature(for: Array(text.utf8))
        var blob = withUnsafeBytes(of: verifierKey.keyHash.bigEndian) { Array($0) }
        blob += Array(signature)
        return text + "\n— \(name) \(Data(blob).base64EncodedString())\n"
    }
}

/// A C2SP signed note split into its text and signature lines.
public struct SignedNote: Hashable, Sendable {
    public struct Signature: Hashable, Sendable {
        public var name: String
        public var keyHash: UInt32
        public var signature: [UInt8]
    }

    public var text: String
    public var signatures: [Signature]

    public init(parsing note: String) throws(NoteError) {
        guard note.utf8.count <= 64 * 1024 else { throw NoteError("note is larger than 64 KiB") }
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw NoteError("note has no blank line before its signatures")
        }
        text = String(note[..<split.lowerBound]) + "\n"
        signatures = []
        let sigBlock = note[split.upperBound...]
        guard sigBlock.hasSuffix("\n") else { throw NoteError("signature block does not end with a newline") }
        for line in sigBlock.split(separator: "\n") {
            guard line.hasPrefix("— ") else { throw NoteError("signature line does not start with \"— \": \(line.prefix(40))") }
            let fields = line.dropFirst(2).split(separator: " ")
            guard fields.count == 2, let blob = Data(base64Encoded: String(fields[1])), blob.count > 4 else {
                throw NoteError("malformed signature line: \(line.prefix(60))")
            }
            let hash = blob.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            signatures.append(Signature(name: String(fields[0]), keyHash: hash, signature: Array(blob.dropFirst(4))))
        }
        guard !signatures.isEmpty else { throw NoteError("note has no signatures") }
    }

    public enum Verification: Hashable, Sendable {
        /// Signed by this known key.
        case verified(LogVerifierKey)
        /// A known key's signature line whose signature does not verify.
        case badSignature(LogVerifierKey)
        /// No signature line names a known key.
        case unknownKey([String])
    }

    /// Checks the signatures against `keys`; the first known key decides.
    public func verify(with keys: [LogVerifierKey]) -> Verification {
        let message = Array(text.utf8)
        for s in signatures {
            guard let key = keys.first(where: { $0.name == s.name && $0.keyHash == s.keyHash }) else { continue }
            return key.isValidSignature(s.signature, for: message) ? .verified(key) : .badSignature(key)
        }
        return .unknownKey(signatures.map { "\($0.name)+\(NoteKey.hex8($0.keyHash))" })
    }
}

/// A C2SP tlog checkpoint: origin line, tree size, base64 root hash.
public struct Checkpoint: Hashable, Sendable {
    public var origin: String
    public var size: UInt64
    public var root: TreeHash

    public init(origin: String, size: UInt64, root: TreeHash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    public var text: String { "\(origin)\n\(size)\n\(root.base64)\n" }

    public init(parsing text: String) throws(NoteError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines.last == "" else { throw NoteError("checkpoint must have origin, size and root lines") }
        guard !lines[0].isEmpty else { throw NoteError("checkpoint origin is empty") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else { throw NoteError("checkpoint size \"\(lines[1])\" is not a decimal number") }
        guard let root = TreeHash(base64: String(lines[2])) else { throw NoteError("checkpoint root is not base64 of 32 bytes") }
        self.init(origin: String(lines[0]), size: size, root: root)
    }
}
