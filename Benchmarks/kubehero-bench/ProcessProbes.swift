import Foundation

// What the benchmarks read about another process from outside it: /proc, ss(8), and its
// Prometheus text. Nothing here asks the process itself.

/// Fields of `/proc/<pid>/status`.
enum ProcStatus {
    /// A `kB` field such as `VmHWM` (peak RSS) or `VmRSS`, in KiB; nil when unreadable.
    static func kibibytes(_ field: String, pid: Int32) -> Int? {
        value(field, pid: pid).flatMap { Int($0.split(separator: " ").first ?? "") }
    }

    /// The text after `field:`, trimmed.
    static func value(_ field: String, pid: Int32) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return nil }
        return line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces)
    }
}

/// `/proc/<pid>/stat`.
enum ProcStat {
    /// User and system CPU time of the whole process (all its threads, living and exited), in
    /// seconds; the kernel counts them in clock ticks (`sysconf(_SC_CLK_TCK)`, 10 ms at 100 Hz).
    static func cpuTime(pid: Int32) throws -> CPUTime {
        let fields = try self.fields(pid: pid)
        // Fields after the command name: state is field 3 of proc(5), utime 14 and stime 15.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else {
            throw BenchError("unexpected /proc/\(pid)/stat")
        }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return CPUTime(user: Double(user) / hertz, system: Double(system) / hertz)
    }

    /// The parent's pid, or nil when `pid` is gone.
    static func parent(of pid: Int32) -> Int32? {
        guard let fields = try? fields(pid: pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// Fields 3 onwards (the command name, which may hold spaces, cut off).
    private static func fields(pid: Int32) throws -> [Substring] {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = stat.lastIndex(of: ")") else { throw BenchError("unexpected /proc/\(pid)/stat") }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}

/// CPU time in seconds.
struct CPUTime {
    var user: Double
    var system: Double

    var total: Double { user + system }

    static func - (a: CPUTime, b: CPUTime) -> CPUTime { CPUTime(user: a.user - b.user, system: a.system - b.system) }
}

/// The 1, 5 and 15 minute load averages, as `uptime` prints them.
func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return text.split(separator: " ").prefix(3).joined(separator: ", ")
}

/// Bytes TCP connections have sent, from the kernel's `tcp_info` as ss(8) shows it.
enum TCPCounters {
    /// `bytes_sent` of every established connection to `host:port`, keyed by its local address:
    /// the payload bytes TCP carried (for a TLS connection, whole TLS records), retransmissions
    /// included (none on loopback); IP and TCP headers not included.
    static func bytesSent(to host: String, port: Int) throws -> [String: UInt64] {
        let ss = try executable("ss")
        let out = try HubProcess.runToCompletion(ss, ["-tinHO", "state", "established", "dst", "\(host):\(port)"])
        var sent: [String: UInt64] = [:]
        for line in out.split(separator: "\n") {
            // Recv-Q Send-Q Local Peer, then tcp_info fields; ss leaves out fields that are 0.
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 4 else { continue }
            let bytes = fields.first(where: { $0.hasPrefix("bytes_sent:") }).flatMap { UInt64($0.dropFirst("bytes_sent:".count)) }
            sent[String(fields[2])] = bytes ?? 0
        }
        return sent
    }

    /// Bytes sent between two readings: connections in `end` count from their value in `start`,
    /// or from 0 when they opened in between. Connections that closed in between are not
    /// counted (their last bytes are unknown); `closed` says how many.
    static func sent(from start: [String: UInt64], to end: [String: UInt64]) -> (bytes: UInt64, closed: Int) {
        let bytes = end.reduce(UInt64(0)) { sum, connection in
            sum + connection.value - min(start[connection.key] ?? 0, connection.value)
        }
        return (bytes, start.keys.filter { end[$0] == nil }.count)
    }
}

/// Prometheus text exposition.
enum PrometheusText {
    /// The value of the unlabelled sample `name`; nil when absent.
    static func value(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, parts[0] == name { return Double(parts[1]) }
        }
        return nil
    }
}

/// The first `name` on `PATH`, or in the usual system directories.
func executable(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    guard let found = directories.map({ $0 + "/" + name }).first(where: { access($0, X_OK) == 0 }) else {
        throw BenchError("\(name) not found on PATH (\(path)); it is needed to read TCP byte counters (Debian: apt-get install iproute2)")
    }
    return found
}

/// A benchmark that could not run, and why.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
