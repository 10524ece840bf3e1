import Foundation
import Synchronization

/// What a benchmark run leaves on the machine — child processes, cgroups, temporary
/// directories — undone once, either at the end of the run or from SIGINT/SIGTERM.
///
/// It holds only pids and paths, so the signal handler can use it while the run's own objects
/// are busy elsewhere; `run()` does its work under the lock, so a second caller (the signal
/// arriving while the normal path cleans up) waits for the first to finish instead of exiting
/// under it.
///
/// ```swift
/// let cleanup = BenchCleanup()
/// let interrupts = cleanup.onInterrupt()
/// defer { interrupts.cancel(); cleanup.run() }
/// cleanup.add(cgroup: dir)          // removed deepest first, after its processes are killed
/// ```
final class BenchCleanup: Sendable {
    private struct State {
        /// Killed (SIGCONT, then SIGKILL) if still alive and still this process's child.
        var children: [Int32] = []
        /// Cgroup directories in creation order; their processes are killed, then they are
        /// removed in reverse order.
        var cgroups: [String] = []
        /// Removed recursively.
        var trees: [String] = []
    }

    private let state = Mutex(State())

    init() {}

    func add(child pid: Int32) { state.withLock { $0.children.append(pid) } }
    /// For a child the run stopped and reaped itself: its pid may be reused from now on.
    func forget(child pid: Int32) { state.withLock { $0.children.removeAll { $0 == pid } } }
    func add(cgroup directory: String) { state.withLock { $0.cgroups.append(directory) } }
    func add(tree path: String) { state.withLock { $0.trees.append(path) } }

    /// Kills what is left and removes what was made; returns the cgroups that could not be
    /// removed (also printed). Safe to call more than once.
    @discardableResult
    func run() -> [String] {
        state.withLock { state in
            let me = getpid()
            for pid in state.children where ProcStat.parent(of: pid) == me {
                kill(pid, SIGCONT)
                kill(pid, SIGKILL)
            }
            state.children = []
            Self.killProcesses(in: state.cgroups)
            var left: [String] = []
            for directory in state.cgroups.reversed() where !Self.removeCgroup(directory) {
                left.append(directory)
            }
            state.cgroups = []
            for path in state.trees { try? FileManager.default.removeItem(atPath: path) }
            state.trees = []
            if !left.isEmpty {
                print("warning: could not remove these cgroups (remove them with rmdir): \(left.joined(separator: " "))")
            }
            return left
        }
    }

    /// Handles SIGINT and SIGTERM by cleaning up and exiting with 130, until cancelled.
    func onInterrupt() -> InterruptHandlers {
        InterruptHandlers(signals: [SIGINT, SIGTERM]) { [self] in
            print("\ninterrupted: stopping child processes and removing the benchmark's cgroups")
            run()
            exit(130)
        }
    }

    /// SIGKILL to every process in the cgroups: `cgroup.kill` where the kernel has it (v2, 5.14+),
    /// else each pid in `cgroup.procs`, in every hierarchy (a process that forked since is caught
    /// by the v2 kill; the retries in `removeCgroup` wait for the rest to go).
    private static func killProcesses(in directories: [String]) {
        for directory in directories {
            let fd = open(directory + "/cgroup.kill", O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                _ = write(fd, "1", 1)
                close(fd)
            }
            guard let procs = try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8) else { continue }
            for pid in procs.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
    }

    /// rmdir, retried for up to 5 s while the kernel finishes with processes that just died.
    private static func removeCgroup(_ path: String) -> Bool {
        for _ in 0..<250 {
            if rmdir(path) == 0 || errno == ENOENT { return true }
            guard errno == EBUSY else { return false }
            killProcesses(in: [path])
            usleep(20_000)
        }
        return false
    }
}

/// Signal sources that replace the default action of their signals until `cancel()`.
final class InterruptHandlers {
    private let sources: [any DispatchSourceSignal]
    private let signals: [Int32]

    init(signals: [Int32], handler: @escaping @Sendable () -> Void) {
        self.signals = signals
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        for number in signals { signal(number, SIG_DFL) }
    }
}
