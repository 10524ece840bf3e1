import KubeHeroCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The enforcement set an edge operator holds, kept in memory for the admission webhook and
/// in `DIR/enforcement.json` so that it survives the operator's restart and a hub outage.
/// Written to a temporary file, synced, then renamed over the old one: a crash leaves the
/// old set or the new one, never half of either.
public final class EnforcementStateFile: Sendable {
    public let path: String
    private let current: Mutex<EnforcementSet>

    /// Loads the set kept in `directory` (the empty set when there is none). A file that
    /// cannot be read is an error naming it, not a silently empty set.
    public init(directory: String) throws(ValidationError) {
        path = (directory.hasSuffix("/") ? String(directory.dropLast()) : directory) + "/enforcement.json"
        var set = EnforcementSet(rules: [])
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError(field: "--state-dir", "cannot read \(path)")
            }
            do {
                set = try JSONDecoder().decode(EnforcementSet.self, from: data)
            } catch {
                throw ValidationError(field: "--state-dir", "\(path) is not an enforcement set: \(error); remove it to start without enforcement")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ValidationError(field: "--state-dir", "cannot create \(directory): \(error)")
            }
        }
        current = Mutex(set)
    }

    /// What the webhook enforces now.
    public var set: EnforcementSet { current.withLock { $0 } }

    /// Keeps `set` on disk, then makes it current; false when it was the current one already.
    /// Blocking file I/O: call it off event loops (the operator calls it from its hub link task).
    @discardableResult
    public func replace(with set: EnforcementSet) throws -> Bool {
        if current.withLock({ $0 == set }) { return false }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(set)
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw ValidationError(field: "--state-dir", "cannot write \(temporary)")
        }
        let fd = open(temporary, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = close(fd)
        }
        guard rename(temporary, path) == 0 else {
            throw ValidationError(field: "--state-dir", "cannot rename \(temporary) to \(path): errno \(errno)")
        }
        current.withLock { $0 = set }
        return true
    }
}
