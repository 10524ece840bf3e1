import Foundation
import Glibc
@testable import KubeHeroAgent

/// What this host offers for tests that make real cgroups: root, and a writable cgroup mount.
enum CgroupTestHost {
    static let mounts: CgroupMounts? = try? CgroupMounts.load()

    static var v2: CgroupMount? {
        guard getuid() == 0, let v2 = mounts?.v2, access(v2.mountPoint, W_OK) == 0 else { return nil }
        return v2
    }

    static var v1CPUAcct: CgroupMount? {
        guard getuid() == 0, let mount = mounts?.v1Mount(for: "cpuacct"), access(mount.mountPoint, W_OK) == 0 else { return nil }
        return mount
    }

    static var v1Memory: CgroupMount? {
        guard getuid() == 0, let mount = mounts?.v1Mount(for: "memory"), access(mount.mountPoint, W_OK) == 0 else { return nil }
        return mount
    }

    /// Controllers the v2 root offers to its children (none on a hybrid host, where v1 holds them).
    static var v2Controllers: [String] {
        guard let v2, let text = try? String(contentsOfFile: v2.mountPoint + "/cgroup.controllers", encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isWhitespace).map(String.init)
    }
}

/// Cgroups a test makes under `kubehero-test-<uuid>` in each of `hierarchies` (the same cgroup path
/// in each, as runc and systemd do), and removes deepest first — call `removeAll()` in a `defer`.
final class TestCgroups {
    let hierarchies: [CgroupMount]
    let top: String
    private var created: [String] = []

    init(in hierarchies: [CgroupMount]) throws {
        self.hierarchies = hierarchies
        self.top = "kubehero-test-\(UUID().uuidString.lowercased())"
        for mount in hierarchies where mount.version == .v1 && mount.controllers.contains("memory") {
            // Processes moved here leave the test runner's own memory cgroup: keep a ceiling on them.
            try make("", in: mount)
            try write("\(512 << 20)", to: mount.mountPoint + "/" + top + "/memory.limit_in_bytes")
        }
    }

    /// The directory of `relative` (below the test's top cgroup) in `mount`.
    func directory(_ relative: String, in mount: CgroupMount) -> String {
        relative.isEmpty ? "\(mount.mountPoint)/\(top)" : "\(mount.mountPoint)/\(top)/\(relative)"
    }

    /// The cgroup path (as containers report it) of `relative`.
    func cgroupPath(_ relative: String) -> String { "/\(top)/\(relative)" }

    /// Makes `relative` and its parents in every hierarchy. On v2, the controllers a parent offers
    /// are enabled for its children, so that a pure v2 host gives the leaf its `memory.*` files.
    func make(_ relative: String) throws {
        for mount in hierarchies { try make(relative, in: mount) }
    }

    private func make(_ relative: String, in mount: CgroupMount) throws {
        var path = mount.mountPoint
        for component in ([top] + relative.split(separator: "/").map(String.init)) {
            // Never the hierarchy root: that is the host's, not the test's.
            if mount.version == .v2, path != mount.mountPoint { enableControllers(below: path) }
            path += "/" + component
            if access(path, F_OK) == 0 { continue }
            guard mkdir(path, 0o755) == 0 else { throw TestCgroupError("mkdir \(path): \(String(cString: strerror(errno)))") }
            created.append(path)
        }
    }

    private func enableControllers(below path: String) {
        guard let offered = try? String(contentsOfFile: path + "/cgroup.controllers", encoding: .utf8) else { return }
        for controller in offered.split(whereSeparator: \.isWhitespace) where ["cpu", "memory"].contains(controller) {
            try? write("+\(controller)", to: path + "/cgroup.subtree_control")
        }
    }

    /// Moves a process into `relative` in every hierarchy.
    func move(_ pid: Int32, into relative: String) throws {
        for mount in hierarchies { try write("\(pid)", to: directory(relative, in: mount) + "/cgroup.procs") }
    }

    /// Removes `relative` (a leaf) from every hierarchy.
    func remove(_ relative: String) throws {
        for mount in hierarchies {
            let path = directory(relative, in: mount)
            guard Self.removeDirectory(path) else { throw TestCgroupError("rmdir \(path): \(String(cString: strerror(errno)))") }
            created.removeAll { $0 == path }
        }
    }

    /// Removes every cgroup made, deepest first; returns those that could not be removed.
    @discardableResult
    func removeAll() -> [String] {
        var left: [String] = []
        for path in created.reversed() where !Self.removeDirectory(path) { left.append(path) }
        created = []
        return left
    }

    /// rmdir, retried for a moment while the kernel finishes with processes that just exited.
    private static func removeDirectory(_ path: String) -> Bool {
        for _ in 0..<150 {
            if rmdir(path) == 0 || errno == ENOENT { return true }
            guard errno == EBUSY else { return false }
            usleep(20_000)
        }
        return false
    }

    private func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TestCgroupError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written >= 0 else { throw TestCgroupError("write \(text) to \(path): \(String(cString: strerror(errno)))") }
    }
}

struct TestCgroupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A python3 child that waits for a line on stdin before doing its work, so that the test can
/// move it into a cgroup first (memory charges stay where they were made).
final class CgroupTestProcess {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    /// Spins the CPU for up to 30 s (it ends by itself should the test die without killing it).
    static let burnerScript = """
        import sys, time
        sys.stdin.readline()
        end = time.monotonic() + 300
        while time.monotonic() < end:
            pass
        """

    /// Allocates and touches `mebibytes`, says `ready`, and holds it for up to 30 s.
    static func hogScript(mebibytes: Int) -> String {
        """
        import sys, time
        sys.stdin.readline()
        b = bytearray(\(mebibytes) << 20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        print("ready", flush=True)
        time.sleep(30)
        """
    }

    init(script: String) throws {
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/local/bin/python3"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func start() {
        input.fileHandleForWriting.write(Data("go\n".utf8))
    }

    /// Blocks until the child prints a line.
    func readLine() -> String {
        var data = Data()
        while !data.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// CPU time the process has used (utime + stime from /proc/<pid>/stat), nanoseconds.
    func cpuNanos() throws -> UInt64 {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { throw TestCgroupError("unexpected /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else {
            throw TestCgroupError("unexpected /proc/\(pid)/stat")
        }
        return (user + system) * 1_000_000_000 / UInt64(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stop() {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}

extension CgroupFixtures {
    /// Reads a counter file with Foundation, independently of the sampler's byte parser.
    static func counterFile(_ path: String, key: String? = nil) throws -> UInt64 {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let key else {
            guard let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw TestCgroupError("\(path): \(text)") }
            return value
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key, let value = UInt64(parts[1]) { return value }
        }
        throw TestCgroupError("\(path): no \(key)")
    }

    /// The inode of a directory, read with Foundation.
    static func inodeNumber(_ path: String) throws -> UInt64 {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        guard let number = attributes[.systemFileNumber] as? NSNumber else { throw TestCgroupError("no inode for \(path)") }
        return number.uint64Value
    }
}
