import Foundation
import Glibc

/// The cgroup hierarchies to make containers in: the v2 hierarchy the agent walks and, on a
/// hybrid host (v2 without controllers, cpu and memory bound to v1), the v1 memory hierarchy
/// the agent reads memory from at the same cgroup path.
struct CgroupHierarchies {
    var v2: String
    var v1Memory: String?

    var all: [String] { [v2] + (v1Memory.map { [$0] } ?? []) }

    static func find(mountinfo: String = "/proc/self/mountinfo") throws -> CgroupHierarchies {
        let text = try String(contentsOfFile: mountinfo, encoding: .utf8)
        var v2: String?
        var memory: String?
        for line in text.split(separator: "\n") {
            // "36 25 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let mount = halves[0].split(separator: " "), source = halves[1].split(separator: " ")
            guard mount.count >= 5, source.count >= 3 else { continue }
            let point = String(mount[4])
            if source[0] == "cgroup2" {
                v2 = v2 ?? point
            } else if source[0] == "cgroup", source[2].split(separator: ",").contains("memory") {
                memory = memory ?? point
            }
        }
        guard let v2 else {
            throw BenchError("no cgroup2 mount in \(mountinfo): the agent benchmark needs a unified or hybrid cgroup layout")
        }
        return CgroupHierarchies(v2: v2, v1Memory: memory)
    }
}

/// `count` container cgroups at `kubehero-bench-<uuid>/ns-<i % 10>/pod-<i>` in every hierarchy,
/// each with one process of its own: `sleep` in most; in one in ten, spread over the namespaces,
/// a shell loop that burns a few milliseconds of CPU a second and forks twice a second, so that
/// its CPU counter moves and its working set changes. Each process moves itself into its cgroups
/// before it execs, so what it allocates is charged there. Everything is registered with
/// `cleanup`.
final class BenchContainers {
    let top: String
    let hierarchies: CgroupHierarchies
    let count: Int
    let busy: Int
    private var processes: [Process] = []

    /// The agent's `--match` for these containers.
    var match: String { "\(top)/*/*" }

    init(count: Int, hierarchies: CgroupHierarchies, lifetimeSeconds: Int, cleanup: BenchCleanup) throws {
        self.top = "kubehero-bench-\(UUID().uuidString.lowercased())"
        self.hierarchies = hierarchies
        self.count = count
        self.busy = (0..<count).filter(Self.isBusy).count

        let leaves = (0..<count).map { "ns-\($0 % 10)/pod-\($0)" }
        for mount in hierarchies.all {
            try Self.make(mount + "/" + top, cleanup: cleanup)
            if mount == hierarchies.v1Memory {
                // The processes leave the bench's own memory cgroup: keep a ceiling on them.
                try Self.write("\(512 << 20)", to: mount + "/" + top + "/memory.limit_in_bytes")
            }
            for namespace in Set(leaves.map { $0.split(separator: "/")[0] }).sorted() {
                try Self.make(mount + "/" + top + "/" + namespace, cleanup: cleanup)
            }
            for leaf in leaves { try Self.make(mount + "/" + top + "/" + leaf, cleanup: cleanup) }
        }
        // On a pure v2 host the leaves get memory.* files only when their parents delegate the
        // controller; a hybrid host has none to delegate.
        enableControllers(below: hierarchies.v2 + "/" + top)
        for namespace in Set(leaves.map { $0.split(separator: "/")[0] }) {
            enableControllers(below: hierarchies.v2 + "/" + top + "/" + namespace)
        }

        let sh = try executable("sh")
        for (i, leaf) in leaves.enumerated() {
            let enter = hierarchies.all.map { "echo $$ > \($0)/\(top)/\(leaf)/cgroup.procs" }.joined(separator: " && ")
            let work: String
            if Self.isBusy(i) {
                // 500-2,000 shell loop turns (a few ms of CPU), then a second's sleep, until the deadline.
                let turns = 500 * (1 + (i / 10) % 4)
                work = "end=$(($(date +%s) + \(lifetimeSeconds))); while [ $(date +%s) -lt $end ]; do i=0; while [ $i -lt \(turns) ]; do i=$((i+1)); done; sleep 1; done"
            } else {
                work = "exec sleep \(lifetimeSeconds)"
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: sh)
            process.arguments = ["-c", "\(enter) && \(work)"]
            try process.run()
            processes.append(process)
        }
        try waitUntilPopulated(leaves)
    }

    /// One container in ten, spread over the namespaces (0, 11, 22, ... 99, 100, 111, ...).
    static func isBusy(_ i: Int) -> Bool { i % 10 == (i / 10) % 10 }

    /// Every leaf holds its process in every hierarchy, or the error says which did not.
    private func waitUntilPopulated(_ leaves: [String]) throws {
        let deadline = Date().addingTimeInterval(15)
        var waiting = leaves.indices.map { $0 }
        while !waiting.isEmpty {
            waiting = waiting.filter { i in
                !hierarchies.all.allSatisfy { mount in
                    let procs = (try? String(contentsOfFile: "\(mount)/\(top)/\(leaves[i])/cgroup.procs", encoding: .utf8)) ?? ""
                    return !procs.isEmpty
                }
            }
            if let i = waiting.first(where: { !processes[$0].isRunning }) {
                throw BenchError("the process for \(top)/\(leaves[i]) exited with \(processes[i].terminationStatus) before it entered its cgroups")
            }
            if waiting.isEmpty { break }
            guard Date() < deadline else {
                throw BenchError("\(waiting.count) processes did not enter their cgroups within 15 s (first: \(top)/\(leaves[waiting[0]]))")
            }
            usleep(20_000)
        }
    }

    /// Waits for the processes, which `BenchCleanup` killed, so none is left a zombie.
    func reap() {
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        processes = []
    }

    private func enableControllers(below path: String) {
        guard let offered = try? String(contentsOfFile: path + "/cgroup.controllers", encoding: .utf8) else { return }
        for controller in offered.split(whereSeparator: \.isWhitespace) where ["cpu", "memory"].contains(controller) {
            try? Self.write("+\(controller)", to: path + "/cgroup.subtree_control")
        }
    }

    private static func make(_ path: String, cleanup: BenchCleanup) throws {
        guard mkdir(path, 0o755) == 0 else {
            let reason = String(cString: strerror(errno))
            throw BenchError("mkdir \(path): \(reason)\(getuid() == 0 ? "" : " (making cgroups needs root)")")
        }
        cleanup.add(cgroup: path)
    }

    private static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BenchError("open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard text.withCString({ Glibc.write(fd, $0, strlen($0)) }) >= 0 else {
            throw BenchError("write \(text) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}
