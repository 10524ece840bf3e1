// Keeping the agent's resident code to the code it keeps running.
//
// The agent runs on every node, so its resident memory is budgeted (30 MiB; BENCHMARKS.md).
// Most of it is not data but file-backed pages of its own binary, and a good part of those is
// code that ran once: the Swift runtime's start, argument parsing, configuration. Once mapped,
// a page stays in the process's RSS (and in its memory cgroup's charge) until memory is tight.
//
// `unmapCode()` unmaps the binary's executable mappings with `MADV_DONTNEED`. Code is never
// written, so nothing is lost: a page that runs again is mapped again from the page cache, and
// what stays resident from then on is the code the agent runs after that point. Mappings with
// private (copy-on-write) pages are left alone, as are the data and relocated read-only
// segments. With `--resident-code trim` (the default) the agent calls it at each point where a
// phase's code is done with (`ResidentCode.Trimmer`): at the start of `run` (the runtime's start
// and argument parsing), before loading the BPF programs (configuration and the bundle's PEM),
// at the end of setup (cgroup discovery, the BPF loader), once the hub has acknowledged the
// first batch (connecting, the TLS handshake), then every 10 minutes (rare paths: reconnects,
// the spool's recovery).
//
// Measured (BENCHMARKS.md, 200 containers, eBPF on): peak RSS 38.1-38.4 MiB with `keep`,
// 28.2-29.0 MiB with `trim`, and about 23 MiB in steady state instead of 38. Pages are
// mapped back 64 KiB at a time (the kernel's fault-around, with read-around filling the cache),
// so the rest of the binary's resident code is bounded by how the linker spreads the code the
// agent runs, not by this. (Turning read-around off with `MADV_RANDOM` and dropping the file
// from the page cache was tried: on Linux 6.18 faults still read around, so it changed nothing.)
//
// Linux only; elsewhere, and on any error, nothing changes (the agent works either way).

import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum ResidentCode {
    /// What was unmapped, for the agent's start-up log.
    public struct Report: Sendable, Equatable {
        public var binary: String
        public var mappings: Int
        public var bytes: Int
    }

    public enum TrimError: Error, CustomStringConvertible, Equatable {
        case unsupported
        case failed(String)

        public var description: String {
            switch self {
            case .unsupported: "not supported on this platform"
            case .failed(let why): why
            }
        }
    }

    /// Whether the agent unmaps code it is done with (`--resident-code`).
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        case trim
        case keep
    }

    /// The agent's trims: `phaseDone` at the end of each start-up phase, and, as a `Service`,
    /// one once the hub acknowledged the first batch and then one every `interval`. With mode
    /// `keep` nothing happens.
    public struct Trimmer: Service {
        let mode: Mode
        let acknowledged: @Sendable () -> Int
        let interval: Duration
        let logger: Logger

        public init(mode: Mode, interval: Duration = .seconds(600), logger: Logger, acknowledged: @escaping @Sendable () -> Int) {
            self.mode = mode
            self.interval = interval
            self.logger = logger
            self.acknowledged = acknowledged
        }

        /// Unmaps the code of the phase that just ended (`what`, for the debug log).
        public static func phaseDone(_ what: String, mode: Mode, logger: Logger) {
            guard mode == .trim else { return }
            switch unmapCode() {
            case .success(let r): logger.debug("resident code trimmed", metadata: ["after": "\(what)", "bytes": "\(r.bytes)"])
            case .failure(let why): logger.debug("resident code not trimmed", metadata: ["after": "\(what)", "reason": "\(why)"])
            }
        }

        public func run() async throws {
            guard mode == .trim else {
                // A service that returns early would end the agent's service group.
                try? await gracefulShutdown()
                return
            }
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled && acknowledged() == 0 {
                    try? await Task.sleep(for: .milliseconds(250))
                }
                var what = "the first acknowledged batch"
                while !Task.isCancelled {
                    Self.phaseDone(what, mode: mode, logger: logger)
                    what = "an interval"
                    try? await Task.sleep(for: interval)
                }
            }
        }
    }

    /// The executable mappings of `binary` in a `/proc/self/maps` text: (start, end)
    /// addresses. Writable and read-only data mappings are left out.
    static func executableMappings(of binary: String, maps: String) -> [(start: UInt, end: UInt)] {
        var result: [(UInt, UInt)] = []
        for line in maps.split(separator: "\n") {
            // "start-end perms offset dev inode path"
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[5].trimmingSpaces == binary else { continue }
            let perms = Array(fields[1].utf8)
            guard perms.count == 4, perms[1] != UInt8(ascii: "w"), perms[2] == UInt8(ascii: "x") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start
            else { continue }
            result.append((start, end))
        }
        return result
    }

    /// The `Anonymous:` kB of the mapping starting at `start` in a `/proc/self/smaps` text; nil
    /// when it is not there.
    static func anonymousKiB(ofMappingAt start: UInt, smaps: String) -> Int? {
        let header = String(start, radix: 16) + "-"
        var inside = false
        for line in smaps.split(separator: "\n") {
            // A mapping's header line starts with its lower-case hex address ("5631c1874000-...");
            // its field lines with a capitalised name ("Anonymous:        0 kB").
            if let first = line.first, first.isNumber || ("a"..."f").contains(first) {
                inside = line.hasPrefix(header)
                continue
            }
            if inside, line.hasPrefix("Anonymous:") {
                return Int(line.dropFirst("Anonymous:".count).split(separator: " ").first ?? "")
            }
        }
        return nil
    }

    #if os(Linux)
    public static func unmapCode() -> Result<Report, TrimError> {
        guard let binary = readLink("/proc/self/exe") else { return .failed("cannot read /proc/self/exe") }
        guard let maps = (try? CgroupFileText.read("/proc/self/maps", limit: 4 << 20)) else { return .failed("cannot read /proc/self/maps") }
        let mappings = executableMappings(of: binary, maps: maps)
        guard !mappings.isEmpty else { return .failed("no executable mapping of \(binary) in /proc/self/maps") }
        var bytes = 0
        var unmapped = 0
        // Only mappings without private (copy-on-write) pages: text relocations or a debugger's
        // breakpoints would live there, and unmapping would lose them.
        let smaps = (try? CgroupFileText.read("/proc/self/smaps", limit: 16 << 20)) ?? ""
        for m in mappings where anonymousKiB(ofMappingAt: m.start, smaps: smaps) == 0 {
            guard let address = UnsafeMutableRawPointer(bitPattern: m.start) else { continue }
            if madvise(address, Int(m.end - m.start), MADV_DONTNEED) != 0 {
                return .failed("madvise(MADV_DONTNEED) on \(binary): errno \(errno)")
            }
            bytes += Int(m.end - m.start)
            unmapped += 1
        }
        return .success(Report(binary: binary, mappings: unmapped, bytes: bytes))
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    #else
    public static func unmapCode() -> Result<Report, TrimError> { .failure(.unsupported) }
    #endif
}

private extension Result where Failure == ResidentCode.TrimError {
    static func failed(_ why: String) -> Self { .failure(.failed(why)) }
}

private extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
