import Foundation
import Glibc
@testable import KubeHeroAgent

/// A temporary directory tree laid out like a cgroup hierarchy, with counter files written by the
/// test: exercises walking and parsing without a kernel.
final class FakeCgroupTree {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "kubehero-fake-cgroups-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    @discardableResult
    func directory(_ relative: String) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func file(_ relative: String, _ contents: String) throws {
        try directory((relative as NSString).deletingLastPathComponent)
        try contents.write(toFile: root + "/" + relative, atomically: false, encoding: .utf8)
    }

    func inode(_ relative: String) throws -> UInt64 {
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + relative)
        return (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }

    func move(_ relative: String, to destination: String) throws {
        try FileManager.default.moveItem(atPath: root + "/" + relative, toPath: root + "/" + destination)
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: root + "/" + relative)
    }
}

/// Recorded and made-up cgroup file contents, and helpers to read real ones independently.
enum CgroupFixtures {
    /// Writes recorded mountinfo text to a temporary file for the duration of `body`.
    @discardableResult
    static func withRecordedMountinfo<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        let path = NSTemporaryDirectory() + "kubehero-mountinfo-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// Sample v2 `memory.stat` text with `inactive_file` neither first nor last.
    static func v2MemoryStat(inactiveFile: UInt64) -> String {
        """
        anon 1048576
        file 8388608
        kernel 262144
        kernel_stack 16384
        sock 0
        shmem 0
        file_mapped 1048576
        file_dirty 0
        active_anon 1048576
        inactive_anon 0
        active_file 2097152
        inactive_file \(inactiveFile)
        unevictable 0
        pgfault 1234

        """
    }

    /// Sample v1 `memory.stat`: the non-hierarchical `inactive_file` comes before `total_inactive_file`.
    static func v1MemoryStat(totalInactiveFile: UInt64) -> String {
        """
        cache 8388608
        rss 1048576
        inactive_file 999
        active_file 2097152
        hierarchical_memory_limit 9223372036854771712
        total_cache 8388608
        total_rss 1048576
        total_inactive_file \(totalInactiveFile)
        total_active_file 2097152

        """
    }
}
