import KubeHeroStore
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Whether this hub replica may run the single-writer jobs (checkpoint signing, retention, the
/// policy evaluator, alert sending): exactly one replica at a time does.
///
/// With SQLite there is one replica, always the leader (`AlwaysLeader`). With PostgreSQL the
/// replicas hold a lease in the database (`LeaderLease`). A job runs through `whileLeading`:
///
/// ```swift
/// try await services.leadership.whileLeading {
///     try await evaluator.run()   // cancelled when leadership is lost, started again when regained
/// }
/// ```
///
/// A job that acts outside (sends an alert, pushes an enforcement) should check `isLeader`
/// right before it acts: a replica stops leading before its lease can expire elsewhere, so
/// two replicas never both see `isLeader` true at the same moment.
public protocol Leadership: Sendable {
    /// Whether this replica leads now.
    var isLeader: Bool { get }
    /// A short name of this replica, for logs and the `/metrics` page.
    var holder: String { get }
}

extension Leadership {
    /// Suspends until this replica leads; returns at once if it does. Throws when cancelled.
    public func waitForLeadership(polling interval: Duration = .milliseconds(100)) async throws {
        while !isLeader { try await Task.sleep(for: interval) }
    }

    /// Suspends until this replica stops leading. Throws when cancelled.
    public func waitForLossOfLeadership(polling interval: Duration = .milliseconds(100)) async throws {
        while isLeader { try await Task.sleep(for: interval) }
    }

    /// Runs `job` while this replica leads: cancels it when leadership is lost and starts it
    /// again when it is regained. Returns when the calling task is cancelled (shutdown). A job
    /// that returns on its own is not started again until leadership is lost and regained.
    public func whileLeading(_ job: @escaping @Sendable () async throws -> Void) async throws {
        do {
            while !Task.isCancelled {
                try await waitForLeadership()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await job() }
                    group.addTask { try await waitForLossOfLeadership() }
                    // The job first: one that ends on its own waits here for the loss.
                    _ = try await group.next()
                    if isLeader { _ = try await group.next() }
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            return
        }
    }
}

/// The one replica of an embedded (SQLite) hub: always the leader.
public struct AlwaysLeader: Leadership {
    public init() {}
    public var isLeader: Bool { true }
    public var holder: String { "single" }
}

/// Leadership by a lease in the database: renewed every `renewInterval` while held, taken by
/// another replica only once it expired there. The replica counts its lease as valid until
/// `leaseDuration - safetyMargin` after it *sent* the last successful renewal, by its own
/// monotonic clock: the database set the expiry later than that send, so this replica stops
/// leading at least `safetyMargin` before any other can start. A replica that cannot reach the
/// database thus steps down on its own, without needing an answer.
public final class LeaderLease: Leadership, Service {
    public struct Settings: Sendable, Hashable {
        public var leaseDuration: Duration = .seconds(15)
        public var renewInterval: Duration = .seconds(5)
        /// Clock-rate differences and the time a renewal takes to become visible.
        public var safetyMargin: Duration = .seconds(2)

        public init() {}

        /// Checks that a renewal fits in the lease with room to spare.
        public func validate() throws {
            guard renewInterval > .zero, safetyMargin >= .zero else {
                throw LeaseSettingsError(description: "the leader lease renewal interval must be positive")
            }
            guard renewInterval * 2 + safetyMargin <= leaseDuration else {
                throw LeaseSettingsError(description: "the leader lease (\(leaseDuration)) must be at least twice the renewal interval (\(renewInterval)) plus \(safetyMargin), so that one failed renewal does not lose it")
            }
        }
    }

    public struct LeaseSettingsError: Error, CustomStringConvertible {
        public var description: String
    }

    public let holder: String
    private let name: String
    private let store: any LeaseStore
    private let settings: Settings
    private let logger: Logger
    private let validUntil = Mutex<ContinuousClock.Instant?>(nil)

    /// `holder` names this replica (a pod name, say); a random suffix keeps two processes of
    /// the same name apart.
    public init(store: any LeaseStore, name: String = "kubehero-hub-leader", holder: String, settings: Settings = Settings(), logger: Logger) {
        self.store = store
        self.name = name
        self.holder = holder + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        self.settings = settings
        self.logger = logger
    }

    public var isLeader: Bool {
        validUntil.withLock { until in until.map { ContinuousClock.now < $0 } ?? false }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                await self.renew(failing: &failing)
                try? await Task.sleep(for: self.settings.renewInterval)
            }
        }
        // Shutting down: give the lease up, so that another replica takes over at once instead
        // of after it expires. The jobs have stopped (they are shut down before this service).
        let wasLeading = isLeader
        validUntil.withLock { $0 = nil }
        if wasLeading {
            do {
                try await store.releaseLease(name: name, holder: holder)
                logger.info("released the leader lease", metadata: ["holder": "\(holder)"])
            } catch {
                logger.warning("could not release the leader lease; it expires by itself", metadata: ["error": "\(error)"])
            }
        }
    }

    private func renew(failing: inout Bool) async {
        let sent = ContinuousClock.now
        let durationMillis = Int64(settings.leaseDuration.components.seconds * 1000 + settings.leaseDuration.components.attoseconds / 1_000_000_000_000_000)
        let wasLeading = isLeader
        do {
            let held = try await store.acquireLease(name: name, holder: holder, durationMillis: durationMillis)
            if failing { logger.info("leader lease reachable again", metadata: ["holder": "\(holder)"]) }
            failing = false
            if held {
                validUntil.withLock { $0 = sent + settings.leaseDuration - settings.safetyMargin }
                if !wasLeading { logger.info("became the leader", metadata: ["holder": "\(holder)", "lease": "\(name)"]) }
            } else {
                validUntil.withLock { $0 = nil }
                if wasLeading { logger.warning("lost the leader lease to another replica", metadata: ["holder": "\(holder)"]) }
            }
        } catch {
            // The lease runs out by itself (see `isLeader`); nothing to undo here.
            if !failing {
                logger.warning("cannot renew the leader lease; leading stops when it runs out", metadata: ["holder": "\(holder)", "error": "\(error)"])
            }
            failing = true
        }
    }
}

/// Runs `service` only while this replica leads (cancelled when leadership is lost).
struct LeaderOnlyService<Inner: Service>: Service {
    let leadership: any Leadership
    let inner: Inner

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await leadership.whileLeading { try await inner.run() }
        }
    }
}
