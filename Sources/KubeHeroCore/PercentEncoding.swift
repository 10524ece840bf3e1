/// Percent-encoding for URL path segments and query values: every byte but RFC 3986's
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`.
///
/// ```swift
/// PercentEncoding.encode("a b/c+=")   // "a%20b%2Fc%2B%3D"
/// ```
public enum PercentEncoding {
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }
}
