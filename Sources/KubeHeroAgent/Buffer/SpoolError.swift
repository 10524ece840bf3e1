// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Something the spool could not do, naming the file and, for records, the offset:
/// `spool /x/spool-17.log: record at offset 4096 has a bad checksum; dropped 2 records after it`.
public struct SpoolError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What kind of problem it was; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case io, locked, corruptRecord, tornTail, sequenceOutOfOrder, recordTooLarge, badIdentity, closed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed (disk full, permission, I/O error).
        public static let io = Code(.io)
        /// Another process holds the spool directory.
        public static let locked = Code(.locked)
        /// A record failed its checks (magic, length, checksum) with data after it.
        public static let corruptRecord = Code(.corruptRecord)
        /// The end of a segment holds an incomplete record, as a crash mid-write leaves it.
        public static let tornTail = Code(.tornTail)
        /// A record's sequence number is not above the previous one.
        public static let sequenceOutOfOrder = Code(.sequenceOutOfOrder)
        /// A payload is larger than a record may be.
        public static let recordTooLarge = Code(.recordTooLarge)
        /// `agent.json` is unreadable or invalid.
        public static let badIdentity = Code(.badIdentity)
        /// The spool was closed.
        public static let closed = Code(.closed)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The file or directory concerned.
    public var path: String
    /// Byte offset of the record concerned, if any.
    public var offset: Int64?
    public var message: String

    public init(_ code: Code, path: String, offset: Int64? = nil, _ message: String) {
        self.code = code
        self.path = path
        self.offset = offset
        self.message = message
    }

    public var description: String { "spool \(path): \(message)" }

    /// A failed system call, with the system's reason: `cannot fsync: No space left on device`.
    static func io(_ what: String, path: String, errno code: Int32 = errno) -> SpoolError {
        SpoolError(.io, path: path, "cannot \(what): \(String(cString: strerror(code)))")
    }
}

/// A batch the buffer refused.
public struct BatchBufferError: Error, CustomStringConvertible, Sendable, Hashable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
