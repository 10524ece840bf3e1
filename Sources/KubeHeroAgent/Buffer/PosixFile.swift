// On Linux the C `stat` struct is attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Thin wrappers over the POSIX calls the spool needs, each retrying EINTR and naming the
// file in its error. All of them block: callers run them off the event loops.

// Inside `PosixFile`, `close` names the method.
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }

/// An open file descriptor and the path it was opened from. Closed explicitly.
struct PosixFile {
    let fd: Int32
    let path: String

    init(opening path: String, _ flags: Int32, mode: mode_t = 0o600) throws(SpoolError) {
        guard let file = try PosixFile(openingIfPresent: path, flags, mode: mode) else {
            throw .io("open", path: path, errno: ENOENT)
        }
        self = file
    }

    /// Opens `path`, or returns nil when it does not exist.
    init?(openingIfPresent path: String, _ flags: Int32, mode: mode_t = 0o600) throws(SpoolError) {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 {
                self.init(fd: fd, path: path)
                return
            }
            if errno == ENOENT { return nil }
            if errno != EINTR { throw .io("open", path: path) }
        }
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    func close() {
        _ = systemClose(fd)
    }

    func size() throws(SpoolError) -> Int64 {
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { throw .io("stat", path: path) }
        return Int64(st.st_size)
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int64) throws(SpoolError) {
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 { throw .io("write \(bytes.count) bytes at offset \(offset)", path: path, errno: failure) }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(count: Int, at offset: Int64) throws(SpoolError) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: Int32 = 0
        result.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if n == 0 { return }
                done += n
            }
        }
        if failure != 0 { throw .io("read \(count) bytes at offset \(offset)", path: path, errno: failure) }
        if done < count { result.removeSubrange(done...) }
        return result
    }

    /// Makes written data durable. `fdatasync` also flushes the file size, which is all an
    /// append needs; the modification time may lag.
    func sync() throws(SpoolError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw .io("fsync", path: path) }
        }
    }

    func truncate(to size: Int64) throws(SpoolError) {
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw .io("truncate to \(size) bytes", path: path) }
        }
    }

    // MARK: Whole files and directories

    /// Makes the entries of `directory` (files created, renamed or removed) durable.
    static func syncDirectory(_ directory: String) throws(SpoolError) {
        let dir = try PosixFile(opening: directory, O_RDONLY | O_DIRECTORY)
        defer { dir.close() }
        while fsync(dir.fd) != 0 {
            if errno != EINTR { throw .io("fsync the directory", path: directory) }
        }
    }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
    /// write `path.tmp`, fsync, rename. `syncDirectory` also makes the rename itself durable.
    static func replace(_ path: String, with bytes: [UInt8], syncDirectory directory: String? = nil) throws(SpoolError) {
        let temporary = path + ".tmp"
        let file = try PosixFile(opening: temporary, O_WRONLY | O_CREAT | O_TRUNC)
        do throws(SpoolError) {
            try file.write(bytes, at: 0)
            try file.sync()
            file.close()
        } catch {
            file.close()
            _ = unlink(temporary)
            throw error
        }
        if rename(temporary, path) != 0 {
            let code = errno
            _ = unlink(temporary)
            throw .io("rename \(temporary) to", path: path, errno: code)
        }
        if let directory { try syncDirectory(directory) }
    }

    /// The whole content of `path`, or nil when it does not exist.
    static func contents(of path: String, limit: Int = 1 << 20) throws(SpoolError) -> [UInt8]? {
        guard let file = try PosixFile(openingIfPresent: path, O_RDONLY) else { return nil }
        defer { file.close() }
        return try file.read(count: limit, at: 0)
    }

    static func remove(_ path: String) throws(SpoolError) {
        if unlink(path) != 0 && errno != ENOENT { throw .io("remove", path: path) }
    }

    /// Names in `directory`, without `.` and `..`.
    static func names(in directory: String) throws(SpoolError) -> [String] {
        guard let dir = opendir(directory) else { throw .io("list", path: directory) }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates `directory` and its missing parents (mode 0700: usage data is not for everyone).
    static func makeDirectory(_ directory: String) throws(SpoolError) {
        var path = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            path += (path.isEmpty || path == "/" ? "" : "/") + component
            if mkdir(path, 0o700) != 0 && errno != EEXIST { throw .io("create the directory", path: path) }
        }
    }
}
