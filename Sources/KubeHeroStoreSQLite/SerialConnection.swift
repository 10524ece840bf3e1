import KubeHeroStore
import NIOPosix
import Synchronization

/// A connection's session (the connection plus whatever state goes with it) used by one task
/// at a time, with every call into SQLite on the thread pool.
///
/// A caller's whole closure (a transaction of many statements) runs in ONE thread-pool job:
/// the point of driving the C API ourselves instead of hopping once per statement.
final class SerialConnection<Session: AnyObject>: @unchecked Sendable {
    // `@unchecked Sendable`: `session` is a non-Sendable class owning an `sqlite3*` opened with
    // SQLITE_OPEN_NOMUTEX. It is read or written only inside `withSession` / `close`, and both
    // hold `gate` for the whole thread-pool job, so exactly one thread touches it at a time. The
    // gate's mutex (and the thread pool's own locking when a job is submitted and when its
    // continuation resumes) orders each job after the previous one, so each job sees what the
    // one before it wrote.
    private var session: Session?
    private let gate = AsyncGate()
    private let threadPool: NIOThreadPool
    private let closedMessage: String

    init(_ session: Session, threadPool: NIOThreadPool, closedMessage: String) {
        self.session = session
        self.threadPool = threadPool
        self.closedMessage = closedMessage
    }

    /// Runs `body` on the thread pool with exclusive use of the session. Callers queue in FIFO
    /// order without holding a thread while they wait.
    ///
    /// If the task is cancelled before the job starts, `body` does not run and this throws
    /// `CancellationError`; once it has started, it runs to the end.
    func withSession<T: Sendable>(_ body: @escaping @Sendable (Session) throws -> T) async throws -> T {
        await gate.acquire()
        defer { gate.release() }
        return try await threadPool.runIfActive {
            guard let session = self.session else { throw StoreError(.backend, self.closedMessage) }
            return try body(session)
        }
    }

    /// Waits for the running job, hands the session to `shutdown` and forgets it; every later
    /// `withSession` fails with `closedMessage`. Idempotent.
    func close(_ shutdown: @escaping @Sendable (Session) -> Void) async throws {
        await gate.acquire()
        defer { gate.release() }
        try await threadPool.runIfActive {
            if let session = self.session {
                shutdown(session)
                self.session = nil
            }
        }
    }
}

/// A FIFO lock for tasks: `acquire()` suspends (it does not block a thread) until the holder
/// calls `release()`.
final class AsyncGate: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var next = 0  // index of the first waiter still queued
    }

    private let state = Mutex(State())

    func acquire() async {
        let acquired = state.withLock { state in
            if state.held { return false }
            state.held = true
            return true
        }
        if acquired { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                // Released between the first check and here: take it directly.
                if !state.held {
                    state.held = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Hands the gate to the longest waiter, or opens it.
    func release() {
        let successor: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard state.next < state.waiters.count else {
                state.held = false
                state.waiters.removeAll(keepingCapacity: true)
                state.next = 0
                return nil
            }
            let waiter = state.waiters[state.next]
            state.next += 1
            if state.next >= 64 && state.next * 2 >= state.waiters.count {
                // Under constant contention the queue never drains; drop the served prefix.
                state.waiters.removeFirst(state.next)
                state.next = 0
            }
            return waiter  // `held` stays true: ownership passes straight to the waiter
        }
        successor?.resume()
    }
}
