import KubeHeroStore
import Logging
import ServiceLifecycle
import Synchronization

/// Commits ingest records in groups: every stream hands its record over and waits; while one
/// transaction is in flight the next ones gather, and are committed together. One fsync then
/// serves many batches, which is what lets a single SQLite writer keep up with a fleet.
///
/// A `Service`: `run()` is the commit loop. On shutdown, records still waiting are failed with
/// `IngestCommitter.Error.shuttingDown`, so their agents resend them to the next hub.
public final class IngestCommitter: Service {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
        static let shuttingDown = Error(description: "hub is shutting down; resend the batch")
    }

    private struct Pending {
        var record: IngestRecord
        var continuation: CheckedContinuation<IngestOutcome, any Swift.Error>
    }

    private struct State {
        var pending: [Pending] = []
        var running = true
    }

    private let store: any HubStore
    private let maxGroup: Int
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let onCommit: @Sendable ([IngestRecord], [IngestOutcome]) -> Void

    /// - Parameters:
    ///   - maxGroup: most records per transaction.
    ///   - onCommit: called after each committed group (metrics).
    public init(
        store: any HubStore, maxGroup: Int = 256, logger: Logger,
        onCommit: @escaping @Sendable ([IngestRecord], [IngestOutcome]) -> Void = { _, _ in }
    ) {
        self.store = store
        self.maxGroup = maxGroup
        self.logger = logger
        self.onCommit = onCommit
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Commits `record` durably (in some group) and returns whether it was new.
    public func commit(_ record: IngestRecord) async throws -> IngestOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { s -> Bool in
                guard s.running else { return false }
                s.pending.append(Pending(record: record, continuation: continuation))
                return true
            }
            if accepted {
                wake.yield()
            } else {
                continuation.resume(throwing: Error.shuttingDown)
            }
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                await drain()
                if state.withLock({ !$0.running }) { break }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.running = false }
            self.wake.yield()
            self.wake.finish()
        }
        // Whatever arrived after the last drain: fail it so the agent resends elsewhere.
        let leftovers = state.withLock { s -> [Pending] in
            s.running = false
            defer { s.pending.removeAll() }
            return s.pending
        }
        for p in leftovers { p.continuation.resume(throwing: Error.shuttingDown) }
    }

    private func drain() async {
        while true {
            let group = state.withLock { s -> [Pending] in
                let n = min(s.pending.count, maxGroup)
                defer { s.pending.removeFirst(n) }
                return Array(s.pending.prefix(n))
            }
            if group.isEmpty { return }
            let records = group.map(\.record)
            do {
                let outcomes = try await store.ingest(records)
                onCommit(records, outcomes)
                for (p, o) in zip(group, outcomes) { p.continuation.resume(returning: o) }
            } catch {
                logger.error("ingest commit failed", metadata: ["error": "\(error)", "batches": "\(group.count)"])
                for p in group { p.continuation.resume(throwing: error) }
            }
        }
    }
}
