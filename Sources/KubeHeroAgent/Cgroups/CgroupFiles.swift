// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
import Glibc
import Synchronization

/// Cgroup counter files read with plain `open`/`read`/`close` into a buffer the caller reuses, and
/// parsed as bytes: this runs for every container every tick, so it allocates nothing per file.
enum CgroupFile {
    enum Outcome: Equatable {
        /// The file's first `n` bytes are in the buffer (all of it unless the buffer filled up).
        case bytes(Int)
        /// The file, or its cgroup, no longer exists.
        case gone
        case failed(errno: Int32)
    }

    static func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return outcome(errno) }
        defer { close(fd) }
        return read(fd, into: buffer)
    }

    /// Reads an open file from its start to its end: cgroup files are generated anew by a read
    /// from offset 0, so a file kept open reads current values every time.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        var filled = 0
        while filled < buffer.count {
            let n = pread(fd, buffer.baseAddress! + filled, buffer.count - filled, off_t(filled))
            if n > 0 {
                filled += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                return outcome(errno)
            }
        }
        return .bytes(filled)
    }

    /// A removed cgroup's files answer ENOENT on open, ENODEV on read of a still-open file.
    static func outcome(_ error: Int32) -> Outcome {
        error == ENOENT || error == ENODEV || error == ENOTDIR ? .gone : .failed(errno: error)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    enum Inode: Equatable {
        case directory(UInt64)
        case notADirectory
        case gone
        case failed(errno: Int32)
    }

    /// The inode of a directory: a cgroup's id on v2 (what `bpf_get_current_cgroup_id` returns).
    static func directoryInode(_ path: String) -> Inode {
        var info = Glibc.stat()
        guard stat(path, &info) == 0 else {
            let error = errno
            return error == ENOENT || error == ENOTDIR ? .gone : .failed(errno: error)
        }
        return (info.st_mode & S_IFMT) == S_IFDIR ? .directory(UInt64(info.st_ino)) : .notADirectory
    }

    /// The number a single-value file holds (`memory.current`, `cpuacct.usage`: digits, newline).
    static func parseUInt(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        var index = 0
        return parseDigits(bytes, at: &index)
    }

    /// The value of `key` in a flat-keyed file (`cpu.stat`, `memory.stat`: one `key value` per line).
    static func value(forKey key: [UInt8], in bytes: UnsafeRawBufferPointer) -> UInt64? {
        var lineStart = 0
        while lineStart < bytes.count {
            if matches(key, in: bytes, at: lineStart) {
                var index = lineStart + key.count + 1
                return parseDigits(bytes, at: &index)
            }
            guard let newline = firstNewline(in: bytes, from: lineStart) else { return nil }
            lineStart = newline + 1
        }
        return nil
    }

    private static func matches(_ key: [UInt8], in bytes: UnsafeRawBufferPointer, at start: Int) -> Bool {
        guard start + key.count < bytes.count, bytes[start + key.count] == UInt8(ascii: " ") else { return false }
        for i in 0..<key.count where bytes[start + i] != key[i] { return false }
        return true
    }

    private static func firstNewline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") { return i }
            i += 1
        }
        return nil
    }

    /// Decimal digits at `index` up to a newline, space or the end; nil if there are none, if
    /// anything else follows, or on overflow.
    private static func parseDigits(_ bytes: UnsafeRawBufferPointer, at index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 0x30 && byte <= 0x39 {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - 0x30))
                if o1 || o2 { return nil }
                value = sum
                digits += 1
                index += 1
            } else if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: " ") {
                break
            } else {
                return nil
            }
        }
        return digits > 0 ? value : nil
    }

    static func describe(_ error: Int32) -> String {
        String(cString: strerror(error))
    }
}

/// Small text files read whole (mountinfo, `cgroup.controllers`): at start-up and discovery only.
enum CgroupFileText {
    static func read(_ path: String, limit: Int = 16 << 20) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CgroupError(.unreadable, path: path, CgroupFile.describe(errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                bytes.append(contentsOf: chunk[0..<n])
                if bytes.count > limit {
                    throw CgroupError(.unreadable, path: path, "larger than \(limit) bytes")
                }
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw CgroupError(.unreadable, path: path, CgroupFile.describe(errno))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// How many counter files the agent may keep open at once: they share the process's file
/// descriptors with its connections, so the budget leaves most of the limit to them.
public final class OpenFileBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Raises the soft `RLIMIT_NOFILE` to the hard one (as Go programs do at start: hosts where
    /// systemd leaves the soft limit at 1,024 would otherwise keep few counter files open). Called
    /// once by `kubehero-agent run`, before the sampler reads the limit.
    public static func raiseSoftLimit() {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0, limits.rlim_cur < limits.rlim_max else { return }
        limits.rlim_cur = limits.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits)
    }

    /// Half of the soft `RLIMIT_NOFILE` beyond 256, at most 16,384 (2 files per container).
    static func fromResourceLimit() -> OpenFileBudget {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return OpenFileBudget(limit: 0) }
        let soft = Int(clamping: limits.rlim_cur)  // RLIM_INFINITY is the largest value: clamped to Int.max
        return OpenFileBudget(limit: min(16_384, max(0, (soft - 256) / 2)))
    }

    var inUse: Int { used.load(ordering: .relaxed) }

    fileprivate func take() -> Bool {
        if used.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        used.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    fileprivate func give() { used.wrappingSubtract(1, ordering: .relaxed) }
}

/// A counter file kept open while its container lives, so that a tick's read is one `pread`
/// instead of `open`/`read`/`close` (the path lookup is most of a small file's cost: 0.6 us
/// against 6.6 us for `memory.usage_in_bytes` here). Closed when the last reference goes, that
/// is when the sampler forgets the container.
final class OpenCgroupFile {
    let path: String
    private let fd: Int32
    private let budget: OpenFileBudget

    private init(path: String, fd: Int32, budget: OpenFileBudget) {
        self.path = path
        self.fd = fd
        self.budget = budget
    }

    /// The file opened under `budget`; nil when the budget is spent or it cannot be opened now
    /// (the caller reads by path, which reports why).
    static func open(_ path: String, budget: OpenFileBudget) -> OpenCgroupFile? {
        guard budget.take() else { return nil }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            budget.give()
            return nil
        }
        return OpenCgroupFile(path: path, fd: fd, budget: budget)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> CgroupFile.Outcome { CgroupFile.read(fd, into: buffer) }

    deinit {
        close(fd)
        budget.give()
    }
}
