import SwiftASN1
import X509

/// Reading and writing PEM text, with errors that name the object being read.
///
/// SwiftASN1's `PEMDocument.parseMultiple` does the splitting; this adds the checks and the
/// messages KubeHero wants (which block was expected, which was found).
enum PEM {
    static let certificate = "CERTIFICATE"
    static let certificateRequest = "CERTIFICATE REQUEST"
    static let pkcs8PrivateKey = "PRIVATE KEY"
    static let sec1PrivateKey = "EC PRIVATE KEY"

    /// Every block in `text`, in order. Text outside the blocks is ignored.
    static func blocks(in text: String, of subject: String) throws(PKIError) -> [PEMDocument] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw PKIError(.badPEM, subject, "malformed PEM (\(error))")
        }
        if documents.isEmpty {
            throw PKIError(.badPEM, subject, "not PEM text: no \"-----BEGIN ...-----\" line found")
        }
        return documents
    }

    /// The one block `text` must consist of, which must be of one of `types`.
    static func block(_ types: [String], in text: String, of subject: String) throws(PKIError) -> PEMDocument {
        let documents = try blocks(in: text, of: subject)
        guard documents.count == 1 else {
            throw PKIError(.badPEM, subject, "expected one PEM block, found \(documents.count)")
        }
        let document = documents[0]
        guard types.contains(document.discriminator) else {
            throw PKIError(
                .badPEM, subject,
                "PEM block is not \(describe(types)) (found \"\(document.discriminator)\")"
            )
        }
        return document
    }

    static func certificate(in document: PEMDocument, of subject: String) throws(PKIError) -> Certificate {
        do {
            return try Certificate(derEncoded: document.derBytes)
        } catch {
            throw PKIError(.badCertificate, subject, "cannot parse the X.509 certificate (\(error))")
        }
    }

    static func certificate(pem text: String, of subject: String) throws(PKIError) -> Certificate {
        try certificate(in: block([Self.certificate], in: text, of: subject), of: subject)
    }

    /// `document` as text, ending with a newline so that blocks concatenate cleanly.
    static func string(_ document: PEMDocument) -> String {
        document.pemString + "\n"
    }

    static func string(_ certificate: Certificate) throws -> String {
        string(try certificate.serializeAsPEM())
    }

    private static func describe(_ types: [String]) -> String {
        types.map { ("AEIOU".contains($0.prefix(1)) ? "an " : "a ") + $0 }.joined(separator: " or ")
    }
}
