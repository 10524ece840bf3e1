import KubeHeroPKI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes the cluster bundle (certificate, private key, CA) an agent reads with `--cert`.
///
/// The file holds a private key, so it is created with mode 0600 and an existing file is
/// replaced only when asked (`--force`), never truncated in place: a replacement is written
/// beside it and renamed over it, so a failure leaves the old bundle whole.
public enum BundleFile {
    /// `./<cluster>-cert.pem`.
    public static func defaultPath(cluster: String) -> String { "./\(cluster)-cert.pem" }

    /// Checks, before anything is sent to the hub, that `path` can be written: so that a
    /// registration is not wasted on a file that cannot be created.
    public static func checkWritable(_ path: String, force: Bool) throws {
        if isDirectory(path) {
            throw CLIError("\(path) is a directory; pass --out with a file name")
        }
        if !force, exists(path) {
            throw CLIError("\(path) already exists; pass --force to replace it, or --out to write elsewhere")
        }
        let directory = CLIConfig.directory(of: path)
        guard isDirectory(directory) else {
            throw CLIError("cannot write \(path): directory \(directory) does not exist")
        }
        guard access(directory, W_OK) == 0 else {
            throw CLIError("cannot write \(path): directory \(directory) is not writable")
        }
    }

    /// Writes `bundle` to `path` with mode 0600.
    public static func write(_ bundle: ClusterBundle, to path: String, force: Bool) throws {
        try write(bundle.pemString(), to: path, force: force)
    }

    static func write(_ text: String, to path: String, force: Bool) throws {
        if !force {
            try writeNew(text, to: path)
            return
        }
        if isDirectory(path) { throw CLIError("\(path) is a directory; pass --out with a file name") }
        let temporary = "\(path).tmp-\(getpid())"
        unlink(temporary)
        try writeNew(text, to: temporary)
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw CLIError("cannot replace \(path): \(reason)")
        }
    }

    /// Creates `path`, failing if it exists (O_EXCL: no window in which another file could
    /// be followed or overwritten).
    private static func writeNew(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw CLIError("\(path) already exists; pass --force to replace it, or --out to write elsewhere")
            }
            throw CLIError("cannot create \(path): \(errnoText())")
        }
        var failure: String?
        // The umask may have removed bits, never added them; make the mode exact anyway.
        if fchmod(fd, 0o600) != 0 { failure = errnoText() }
        let bytes = Array(text.utf8)
        var offset = 0
        while failure == nil, offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { writeBytes(fd, $0) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errnoText()
            } else {
                offset += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = errnoText() }
        if close(fd) != 0, failure == nil { failure = errnoText() }
        if let failure {
            unlink(path)
            throw CLIError("cannot write \(path): \(failure)")
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// POSIX `write`, outside `BundleFile` whose own `write` would shadow it.
private func writeBytes(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int {
    write(fd, buffer.baseAddress, buffer.count)
}
