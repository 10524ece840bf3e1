/// Parses textual IP addresses into the 4 or 16 network-order bytes an X.509 `iPAddress`
/// SAN holds. Pure Swift, so the result does not depend on the platform's resolver.
public enum IPAddress {
    /// `text` as 4 bytes (dotted IPv4) or 16 bytes (IPv6, with `::` compression and an
    /// optional dotted IPv4 tail), or nil if it is neither. Zone IDs (`%eth0`) and brackets
    /// are refused: they have no place in a certificate.
    public static func bytes(_ text: String) -> [UInt8]? {
        if text.contains(":") { return ipv6(Substring(text)) }
        return ipv4(Substring(text))
    }

    static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes = [UInt8]()
        for part in parts {
            // Leading zeros are refused: some parsers read them as octal.
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part.count == 1 || part.first != "0",
                let value = UInt8(part)
            else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    static func ipv6(_ text: Substring) -> [UInt8]? {
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        guard let head = groups(halves[0], allowIPv4Tail: halves.count == 1) else { return nil }
        if halves.count == 1 {
            return head.count == 16 ? head : nil
        }
        guard let tail = groups(halves[1], allowIPv4Tail: true) else { return nil }
        // "::" stands for at least one group of zeros.
        guard head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Colon-separated hex groups (possibly none), the last of which may be dotted IPv4.
    private static func groups(_ text: Substring, allowIPv4Tail: Bool) -> [UInt8]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var bytes = [UInt8]()
        for (index, part) in parts.enumerated() {
            if allowIPv4Tail, index == parts.count - 1, part.contains(".") {
                guard let v4 = ipv4(part) else { return nil }
                bytes += v4
                continue
            }
            guard (1...4).contains(part.count), part.allSatisfy({ $0.isHexDigit && $0.isASCII }),
                let value = UInt16(part, radix: 16)
            else { return nil }
            bytes += [UInt8(value >> 8), UInt8(value & 0xff)]
        }
        return bytes
    }
}
