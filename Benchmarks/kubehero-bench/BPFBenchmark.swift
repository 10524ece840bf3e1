// kubehero-bench bpf: the cost of the agent's BPF programs, per run, measured by the kernel.
//
//   sudo kubehero-bench bpf                      # 10 s of context-switch-heavy load plus UDP on loopback
//   sudo kubehero-bench bpf --seconds 30 --pairs 4
//
// See BENCHMARKS.md for the method and recorded figures.

import ArgumentParser
import Foundation
import KubeHeroAgent
import Synchronization

struct BPFBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bpf",
        abstract: "Loads the agent's BPF programs and reports their kernel-measured run time per sched_switch and per skb under load.",
        discussion: """
            Sets kernel.bpf_stats_enabled=1 for the run (restoring the previous value), loads and attaches \
            the programs as the agent does (sched_switch; cgroup_skb on the cgroup v2 root), and runs a \
            context-switch-heavy load: pairs of threads passing a byte back and forth over pipes, plus a \
            thread sending UDP datagrams to a receiver on loopback (each datagram is one egress and one \
            ingress run). The per-program run count and run time come from the \
            kernel (bpf_prog_info), so the figures are the programs' own cost, not the load's. Needs root, \
            kernel BTF and a cgroup v2 mount.
            """
    )

    static let targetSchedSwitchNanos = 100.0

    @Option(help: "Seconds of load to measure.")
    var seconds = 10

    @Option(help: "Pairs of threads ping-ponging over pipes (each round trip is two context switches or more).")
    var pairs = 2

    @Option(help: "UDP payload bytes per datagram sent to loopback (0: no network load).")
    var datagramBytes = 512

    func validate() throws {
        guard seconds >= 1 else { throw ValidationError("--seconds must be at least 1") }
        guard pairs >= 1 else { throw ValidationError("--pairs must be at least 1") }
        guard (0...65_000).contains(datagramBytes) else { throw ValidationError("--datagram-bytes must be 0-65000") }
    }

    func run() async throws {
        guard let v2 = try CgroupMounts.load().v2 else { throw ValidationError("no cgroup v2 mount: the cgroup_skb programs attach to its root") }
        let statsPath = "/proc/sys/kernel/bpf_stats_enabled"
        let previous = (try? String(contentsOfFile: statsPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        try "1".write(toFile: statsPath, atomically: false, encoding: .utf8)
        defer { try? previous.write(toFile: statsPath, atomically: false, encoding: .utf8) }

        let programs = try BPFPrograms.load([.cpu, .network])
        defer { programs.close() }
        try programs.attach(cgroupV2Root: v2.mountPoint)
        print("kernel: \(Self.kernelRelease()), \(ProcessInfo.processInfo.activeProcessorCount) CPUs, load average \(loadAverage())")
        print("programs: \(try programs.programs().map { "\($0.name)#\($0.programID)" }.joined(separator: " "))")

        let load = LoadCounters()
        var threads: [Thread] = []
        for _ in 0..<pairs {
            var a: [Int32] = [0, 0], b: [Int32] = [0, 0]
            guard pipe(&a) == 0, pipe(&b) == 0 else { throw ValidationError("pipe: \(String(cString: strerror(errno)))") }
            let (aRead, aWrite, bRead, bWrite) = (a[0], a[1], b[0], b[1])
            threads.append(Thread {
                var byte: UInt8 = 1
                var n = 0
                while !load.stop.load(ordering: .relaxed) {
                    guard write(aWrite, &byte, 1) == 1, read(bRead, &byte, 1) == 1 else { break }
                    n += 1
                }
                load.roundTrips.add(n, ordering: .relaxed)
                close(aWrite)
                close(bRead)
            })
            threads.append(Thread {
                var byte: UInt8 = 0
                while read(aRead, &byte, 1) == 1, write(bWrite, &byte, 1) == 1 {}
                close(aRead)
                close(bWrite)
            })
        }
        if datagramBytes > 0 {
            let size = datagramBytes
            // A receiver on loopback, so that packets reach a socket (where cgroup_skb/ingress runs).
            let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var bound = sockaddr_in()
            bound.sin_family = sa_family_t(AF_INET)
            bound.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let boundOK = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) == 0 && getsockname(receiver, $0, &length) == 0 }
            }
            guard boundOK else { throw ValidationError("binding a UDP socket on loopback: \(String(cString: strerror(errno)))") }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(receiver, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let port = bound.sin_port
            threads.append(Thread {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while !load.stop.load(ordering: .relaxed) { _ = recv(receiver, &buffer, buffer.count, 0) }
                close(receiver)
            })
            threads.append(Thread {
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = port
                address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                let payload = [UInt8](repeating: 0x6b, count: size)
                var n = 0
                while !load.stop.load(ordering: .relaxed) {
                    let sent = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, size, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                    if sent == size { n += 1 }
                }
                load.datagrams.add(n, ordering: .relaxed)
                close(fd)
            })
        }

        let before = try programs.programs()
        let started = ContinuousClock.now
        for t in threads { t.start() }
        try await Task.sleep(for: .seconds(seconds))
        let after = try programs.programs()
        let elapsed = ContinuousClock.now - started
        load.stop.store(true, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(200))

        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "load: %.1f s, %d pipe round trips, %d UDP datagrams of %d bytes", wall, load.roundTrips.load(ordering: .relaxed), load.datagrams.load(ordering: .relaxed), datagramBytes))
        print("program            runs        runs/s      total run time   ns/run")
        var schedSwitchNanos = 0.0
        for (b, a) in zip(before, after) {
            let runs = a.runCount - b.runCount
            let time = a.runTimeNanos - b.runTimeNanos
            let perRun = runs > 0 ? Double(time) / Double(runs) : 0
            if a.name == "kh_sched_switch" { schedSwitchNanos = perRun }
            print(a.name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %12llu %12.0f %14.3f ms %8.1f", runs, Double(runs) / wall, Double(time) / 1e6, perRun))
        }
        let cpus = Double(ProcessInfo.processInfo.activeProcessorCount)
        let total = zip(before, after).reduce(0.0) { $0 + Double($1.1.runTimeNanos - $1.0.runTimeNanos) }
        print(String(format: "all programs: %.3f ms of CPU per second (%.2f millicores; %.4f%% of %d CPUs)", total / wall / 1e6, total / wall / 1e6, total / wall / 1e9 / cpus * 100, Int(cpus)))
        print("target: sched_switch <= \(Int(Self.targetSchedSwitchNanos)) ns per run: \(schedSwitchNanos <= Self.targetSchedSwitchNanos ? "met" : "NOT met")")
    }

    static func kernelRelease() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

}

/// What the load threads share: a stop flag and their counts.
private final class LoadCounters: Sendable {
    let stop = Atomic<Bool>(false)
    let roundTrips = Atomic<Int>(0)
    let datagrams = Atomic<Int>(0)
}
