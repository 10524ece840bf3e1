import Foundation
import KubeHeroAudit
import Testing

@Suite struct NoteTests {
    // golang.org/x/mod/sumdb/note's published example: our format is byte-compatible with it.
    static let goVerifier = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let goSigner = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    static let goText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let goNote = goText + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

    @Test func goReferenceVectorSignsAndVerifies() throws {
        let signer = try LogSigner(Self.goSigner)
        #expect(signer.verifierKey.description == Self.goVerifier)
        #expect(signer.signerKeyText == Self.goSigner)
        // Ed25519 is deterministic: the same key and text give the published signature.
        #expect(try signer.sign(Self.goText) == Self.goNote)
        let note = try SignedNote(parsing: Self.goNote)
        #expect(note.text == Self.goText)
        #expect(note.verify(with: [try LogVerifierKey(Self.goVerifier)]) == .verified(try LogVerifierKey(Self.goVerifier)))
    }

    @Test func tamperedTextForeignKeyAndBadKeysAreRejected() throws {
        let key = try LogVerifierKey(Self.goVerifier)
        let altered = Self.goNote.replacingOccurrences(of: "answer", with: "answet")
        #expect(try SignedNote(parsing: altered).verify(with: [key]) == .badSignature(key))
        let other = try LogSigner.generate(name: "PeterNeumann")
        if case .unknownKey = try SignedNote(parsing: try other.sign(Self.goText)).verify(with: [key]) {} else {
            Issue.record("a note signed by another key with the same name must not verify")
        }
        #expect(throws: NoteError.self) { try LogVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW") }
        #expect(throws: NoteError.self) { try LogVerifierKey("PeterNeumann+c74f20a3") }
        #expect(throws: NoteError.self) { try LogSigner.generate(name: "has space") }
        #expect(throws: NoteError.self) { try SignedNote(parsing: Self.goText) }
    }

    @Test func checkpointRoundTripsThroughASignedNote() throws {
        let signer = try LogSigner.generate(name: "kubehero.io/audit/test")
        let root = MerkleTree(leaves: [Merkle.leafHash(Array("a".utf8))]).root
        let cp = Checkpoint(origin: "kubehero.io/audit/test", size: 1, root: root)
        let note = try SignedNote(parsing: try signer.sign(cp.text))
        #expect(try Checkpoint(parsing: note.text) == cp)
        #expect(note.verify(with: [signer.verifierKey]) == .verified(signer.verifierKey))
        #expect(throws: NoteError.self) { try Checkpoint(parsing: "origin\n-1\n\(root.base64)\n") }
        #expect(throws: NoteError.self) { try Checkpoint(parsing: "origin\n1\nnotbase64\n") }
    }

    @Test func canonicalJSONIsCanonical() throws {
        let v: JSONValue = .object(["b": 1, "a": .array(["x\n\"y\u{1}", .null, true]), "é": -5])
        let bytes = CanonicalJSON.encode(v)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"a":["x\n\"y\u0001",null,true],"b":1,"é":-5}"#)
        #expect(try CanonicalJSON.parseCanonical(bytes) == v)
        #expect(try CanonicalJSON.parse(Array(#" { "b" : 1 , "a":[ "x\n\"y\u0001" ,null,true],"é":-5 } "#.utf8)) == v)
        #expect(throws: CanonicalJSON.ParseError.self) { try CanonicalJSON.parseCanonical(Array(#"{"b":1,"a":2}"#.utf8)) }
        #expect(throws: CanonicalJSON.ParseError.self) { try CanonicalJSON.parse(Array(#"{"a":1.5}"#.utf8)) }
        #expect(throws: CanonicalJSON.ParseError.self) { try CanonicalJSON.parse(Array(#"{"a":1,"a":2}"#.utf8)) }
        #expect(throws: CanonicalJSON.ParseError.self) { try CanonicalJSON.parse(Array(repeating: UInt8(ascii: "["), count: 100)) }
    }
}

@Suite struct ScannerTests {
    /// The verifier's non-allocating scan agrees with the full parser on every one-byte change
    /// of a real entry (ASCII changes, so that UTF-8 validity, which only the parser checks,
    /// does not differ).
    @Test func scanAgreesWithTheParserOnEveryOneByteChange() throws {
        let entry = AuditDraft(
            timeMillis: 1_790_000_000_000, actor: .token("ab12"), action: .clusterRegister, subject: "cluster/prod",
            details: ["labels": .object(["env": "prod", "q": "a\"b\\c"]), "n": -12, "ok": true, "none": .null, "list": .array([1, "x"])]
        ).entry(index: 42)
        #expect(CanonicalJSON.topLevelInteger("index", in: entry.bytes) == 42)
        for at in entry.bytes.indices {
            for replacement in [UInt8(ascii: "x"), UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: "1"), UInt8(ascii: " ")] {
                var b = entry.bytes
                b[at] = replacement
                let full: Int64? = (try? CanonicalJSON.parse(b))?["index"]?.intValue
                #expect(CanonicalJSON.topLevelInteger("index", in: b) == full, "byte \(at) -> \(replacement)")
            }
        }
    }
}
