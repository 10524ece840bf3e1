import KubeHeroWire

/// One record of a spool segment, little-endian:
///
/// ```
/// offset  size  field
///      0     4  magic     0x3153484B ("KHS1" as bytes)
///      4     4  length    payload bytes (at most `wireMaxMessageBytes`)
///      8     4  crc32c    CRC-32C of sequence + payload
///     12     8  sequence  the batch's sequence number
///     20     n  payload   the encoded `WireUsageBatch`
/// ```
///
/// The checksum covers the sequence so that a record cannot be read back under another
/// number; the length is bounded so that a damaged length cannot make recovery read
/// gigabytes.
enum SpoolRecordFormat {
    static let magic: UInt32 = 0x3153_484B
    static let headerSize = 20
    static let maxPayloadBytes = wireMaxMessageBytes

    struct Header {
        var magic: UInt32
        var length: Int
        var checksum: UInt32
        var sequence: UInt64

        init(_ bytes: [UInt8]) {
            precondition(bytes.count >= SpoolRecordFormat.headerSize)
            magic = UInt32(littleEndian: bytes, at: 0)
            length = Int(UInt32(littleEndian: bytes, at: 4))
            checksum = UInt32(littleEndian: bytes, at: 8)
            sequence = UInt64(littleEndian: bytes, at: 12)
        }

        /// Why this header cannot start a record, or nil when it can.
        var problem: String? {
            if magic != SpoolRecordFormat.magic {
                return "has a bad magic number 0x\(String(magic, radix: 16))"
            }
            if length > SpoolRecordFormat.maxPayloadBytes {
                return "claims \(length) payload bytes, more than the \(SpoolRecordFormat.maxPayloadBytes) a record may hold"
            }
            return nil
        }
    }

    /// Header and payload, ready for one write.
    static func encode(sequence: UInt64, payload: [UInt8]) -> [UInt8] {
        var record = [UInt8]()
        record.reserveCapacity(headerSize + payload.count)
        record.appendLittleEndian(magic)
        record.appendLittleEndian(UInt32(payload.count))
        record.appendLittleEndian(checksum(sequence: sequence, payload: payload))
        record.appendLittleEndian(sequence)
        record.append(contentsOf: payload)
        return record
    }

    static func checksum(sequence: UInt64, payload: some Collection<UInt8>) -> UInt32 {
        var crc = CRC32C()
        var bytes = [UInt8]()
        bytes.appendLittleEndian(sequence)
        crc.update(bytes)
        crc.update(payload)
        return crc.value
    }

    /// The intact records found in `bytes` from `start` on, wherever their magic number is and
    /// their checksum holds: what survives after a damaged record, which framing cannot find.
    static func records(in bytes: [UInt8], from start: Int) -> [(sequence: UInt64, offset: Int)] {
        var found = [(sequence: UInt64, offset: Int)]()
        var p = start
        while p + headerSize <= bytes.count {
            if UInt32(littleEndian: bytes, at: p) == magic {
                let header = Header(Array(bytes[p..<(p + headerSize)]))
                let end = p + headerSize + header.length
                if header.problem == nil, end <= bytes.count,
                    header.checksum == checksum(sequence: header.sequence, payload: bytes[(p + headerSize)..<end]) {
                    found.append((header.sequence, p))
                    p = end
                    continue
                }
            }
            p += 1
        }
        return found
    }
}

extension [UInt8] {
    mutating func appendLittleEndian(_ value: some FixedWidthInteger) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension FixedWidthInteger {
    /// Reads `Self` stored little-endian at `offset` of `bytes`.
    init(littleEndian bytes: [UInt8], at offset: Int) {
        var value = Self.zero
        for i in (0..<MemoryLayout<Self>.size).reversed() {
            value = value << 8 | Self(bytes[offset + i])
        }
        self = value
    }
}
