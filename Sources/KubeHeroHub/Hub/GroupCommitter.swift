import KubeHeroAudit
import KubeHeroStore
import Logging
import ServiceLifecycle
import Synchronization

/// Ingest batches, committed in groups (one transaction per group).
public typealias IngestCommitter = GroupCommitter<IngestRecord, IngestOutcome>

/// Standalone audit entries, appended in groups.
public typealias AuditAppender = GroupCommitter<AuditDraft, AuditEntry>

extension GroupCommitter where Item == IngestRecord, Outcome == IngestOutcome {
    public convenience init(
        store: any HubStore, maxGroup: Int = 256, logger: Logger,
        onCommit: @escaping @Sendable ([IngestRecord], [IngestOutcome]) -> Void = { _, _ in }
    ) {
        self.init(what: "ingest", maxGroup: maxGroup, logger: logger, commit: { try await store.ingest($0) }, onCommit: onCommit)
    }
}

extension GroupCommitter where Item == AuditDraft, Outcome == AuditEntry {
    /// Appends entries to the audit log, many callers' entries per transaction.
    public convenience init(store: any HubStore, maxGroup: Int = 1024, logger: Logger) {
        self.init(what: "audit append", maxGroup: maxGroup, logger: logger, commit: { try await store.appendAudit($0) })
    }
}

/// Commits items in groups: every caller hands its item over and waits; while one transaction
/// is in flight the next ones gather, and are committed together. One fsync then serves many
/// callers, which is what lets a single SQLite writer keep up with a fleet.
///
/// A `Service`: `run()` is the commit loop. On shutdown, items still waiting are failed with
/// `GroupCommitterError.shuttingDown` (agents then resend their batches to the next hub).
public final class GroupCommitter<Item: Sendable, Outcome: Sendable>: Service {
    public typealias Error = GroupCommitterError

    private struct Pending {
        var record: Item
        var continuation: CheckedContinuation<Outcome, any Swift.Error>
    }

    private struct State {
        var pending: [Pending] = []
        var running = true
    }

    private let what: String
    private let commitGroup: @Sendable ([Item]) async throws -> [Outcome]
    private let maxGroup: Int
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let onCommit: @Sendable ([Item], [Outcome]) -> Void

    /// - Parameters:
    ///   - maxGroup: most items per transaction.
    ///   - commit: commits one group in one transaction, returning an outcome per item in order.
    ///   - onCommit: called after each committed group (metrics).
    public init(
        what: String, maxGroup: Int, logger: Logger, commit: @escaping @Sendable ([Item]) async throws -> [Outcome],
        onCommit: @escaping @Sendable ([Item], [Outcome]) -> Void = { _, _ in }
    ) {
        self.what = what
        self.commitGroup = commit
        self.maxGroup = maxGroup
        self.logger = logger
        self.onCommit = onCommit
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Commits `record` durably (in some group) and returns its outcome.
    public func commit(_ record: Item) async throws -> Outcome {
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
                let outcomes = try await commitGroup(records)
                onCommit(records, outcomes)
                for (p, o) in zip(group, outcomes) { p.continuation.resume(returning: o) }
            } catch {
                logger.error("\(what) commit failed", metadata: ["error": "\(error)", "items": "\(group.count)"])
                for p in group { p.continuation.resume(throwing: error) }
            }
        }
    }
}

public struct GroupCommitterError: Swift.Error, CustomStringConvertible {
    public var description: String
    static let shuttingDown = GroupCommitterError(description: "hub is shutting down; try again (agents resend the batch)")
}
