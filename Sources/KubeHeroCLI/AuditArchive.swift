import KubeHeroAudit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An audit log export in a directory (the format of `AuditExport`): written by `audit export`
/// and `audit forward --dir`, read by `audit verify --dir`.
public struct AuditArchive: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    var entriesPath: String { directory + "/" + AuditExport.entriesFile }
    var checkpointsPath: String { directory + "/" + AuditExport.checkpointsFile }
    var keysPath: String { directory + "/" + AuditExport.keysFile }

    /// The lines of a file, without the newlines; a last line without its newline (a torn
    /// append) is left out.
    static func completeLines(_ path: String) throws -> [ArraySlice<UInt8>] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
        return lines(of: [UInt8](data))
    }

    /// The newline-terminated lines of `bytes`, without the newlines; bytes after the last
    /// newline are left out.
    static func lines(of bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            lines.append(bytes[start..<i])
            start = i + 1
        }
        return lines
    }

    /// Reads the export for verification: every entry line and every checkpoint note.
    public func read() throws -> (entries: [AuditVerifier.Input], checkpoints: [String]) {
        guard FileManager.default.fileExists(atPath: entriesPath) else {
            throw CLIError("\(entriesPath) does not exist: is \(directory) an audit export (kubehero audit export --to DIR)?")
        }
        let entries = try Self.completeLines(entriesPath).map(AuditVerifier.Input.init(exportLine:))
        var notes: [String] = []
        for (n, line) in try Self.completeLines(checkpointsPath).enumerated() {
            do {
                notes.append(try AuditExport.parseCheckpointLine(line))
            } catch {
                throw CLIError("\(checkpointsPath) line \(n + 1): \(error)")
            }
        }
        return (entries, notes)
    }

    /// Where a resumed forward continues: the next entry index and the largest checkpoint
    /// size already written. Cuts a torn last line off first.
    public func resumePoint() throws -> (nextIndex: UInt64, checkpointSize: UInt64) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let entries = try Self.truncateTornTail(entriesPath)
        let checkpoints = try Self.truncateTornTail(checkpointsPath)
        var size: UInt64 = 0
        if let last = checkpoints.last, case .object(let o)? = try? CanonicalJSON.parse(last), let s = o["size"]?.intValue {
            size = UInt64(s)
        }
        return (UInt64(entries.count), size)
    }

    private static func truncateTornTail(_ path: String) throws -> [ArraySlice<UInt8>] {
        let lines = try completeLines(path)
        let complete = lines.last.map { $0.endIndex + 1 } ?? 0
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
           let size = attributes[.size] as? Int, size > complete {
            guard truncate(path, off_t(complete)) == 0 else { throw CLIError("cannot truncate the torn tail of \(path)") }
        }
        return lines
    }

    /// Appends lines to a file and syncs it to disk before returning.
    static func append(_ lines: [[UInt8]], to path: String) throws {
        if lines.isEmpty { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open \(path) for appending: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer: [UInt8] = []
        for l in lines { buffer += l; buffer.append(0x0A) }
        var offset = 0
        while offset < buffer.count {
            let n = buffer[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
            offset += n
        }
        guard fsync(fd) == 0 else { throw CLIError("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }

    public func appendEntries(_ entries: [(recordedLeafHash: TreeHash, entry: AuditEntry)]) throws {
        try Self.append(entries.map { AuditExport.line(leafHash: $0.recordedLeafHash, entryBytes: $0.entry.bytes) }, to: entriesPath)
    }

    public func appendCheckpoints(_ checkpoints: [(size: UInt64, note: String)]) throws {
        try Self.append(checkpoints.map { AuditExport.checkpointLine(note: $0.note, size: $0.size) }, to: checkpointsPath)
    }

    public func writeKeys(_ keys: [String]) throws {
        let text = keys.joined(separator: "\n") + "\n"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: keysPath, contents: Data(text.utf8)) else { throw CLIError("cannot write \(keysPath)") }
    }
}
