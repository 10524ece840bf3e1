import Crypto

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// API tokens for the hub's REST API.
///
/// A token's secret is shown to the user once; the hub stores only its ``hash(_:)`` and
/// looks the token up by its id, which is embedded in the secret:
///
/// ```swift
/// let token = APIToken.generate()
/// // token.secret == "khp_3f9a0c21d4e8_<43 base64url characters>"
/// APIToken.id(fromSecret: token.secret)  // token.id
/// ```
public enum APIToken {
    static let prefix = "khp_"
    static let idLength = 12
    static let secretByteCount = 32
    /// base64url of 32 bytes, without padding.
    static let secretTextLength = 43

    /// A new random token: a 12-hex-character id and the secret that carries it.
    public static func generate() -> (id: String, secret: String) {
        let id = SecureRandom.bytes(idLength / 2).hexString
        let secret = base64URL(SecureRandom.bytes(secretByteCount))
        return (id, prefix + id + "_" + secret)
    }

    /// SHA-256 of the secret's UTF-8 bytes, as lowercase hex. What the hub stores.
    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Array(secret.utf8)).hexString
    }

    /// Whether `secret` hashes to `storedHash`, comparing in constant time.
    public static func matches(_ secret: String, hash storedHash: String) -> Bool {
        let computed = Array(hash(secret).utf8)
        let stored = Array(storedHash.utf8)
        guard computed.count == stored.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(computed, stored) { difference |= a ^ b }
        return difference == 0
    }

    /// The id embedded in a well-formed secret (`khp_<12 hex>_<43 base64url>`), or nil if
    /// `secret` does not have that shape.
    public static func id(fromSecret secret: String) -> String? {
        let bytes = Array(secret.utf8)
        let idStart = prefix.utf8.count
        let secretStart = idStart + idLength + 1
        guard bytes.count == secretStart + secretTextLength,
            bytes.starts(with: prefix.utf8),
            bytes[secretStart - 1] == UInt8(ascii: "_"),
            bytes[idStart..<idStart + idLength].allSatisfy(isLowerHex),
            bytes[secretStart...].allSatisfy(isBase64URL)
        else { return nil }
        return String(decoding: bytes[idStart..<idStart + idLength], as: UTF8.self)
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacing("+", with: "-")
            .replacing("/", with: "_")
            .replacing("=", with: "")
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
}
