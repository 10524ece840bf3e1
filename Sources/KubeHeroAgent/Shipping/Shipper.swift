import GRPCCore
import KubeHeroCore
import KubeHeroIngestClient
import KubeHeroWire
import Logging
import NIOPosix
import ServiceLifecycle
import SwiftProtobuf
import Synchronization

/// What the shipper needs from the buffer: closed batches in order, and a way to settle them.
/// `BatchBuffer` is the real one; calls may touch the spool on disk, so the shipper makes them
/// from the thread pool.
public protocol ShippingQueue: Sendable {
    func pending() -> [(sequence: UInt64, bytes: [UInt8])]
    func acknowledge(sequence: UInt64) throws
    func reject(sequence: UInt64) throws
}

/// Exponential backoff with full jitter: the n-th wait is uniform in [0, min(max, base * 2^n)].
public struct Backoff: Sendable {
    public var base: Duration = .milliseconds(200)
    public var max: Duration = .seconds(30)

    public init(base: Duration = .milliseconds(200), max: Duration = .seconds(30)) {
        self.base = base
        self.max = max
    }

    public func delay(attempt: Int) -> Duration {
        let cap = min(max, base * (1 << Swift.min(attempt, 20)))
        let millis = Int64(cap.components.seconds * 1000 + cap.components.attoseconds / 1_000_000_000_000_000)
        return .milliseconds(Int64.random(in: 0...Swift.max(millis, 1)))
    }
}

/// Counters the agent's /metrics shows.
public final class ShipperStats: Sendable {
    private let state = Mutex(ShipperStatsSnapshot())
    public init() {}

    func update(_ change: (inout ShipperStatsSnapshot) -> Void) {
        state.withLock { change(&$0) }
    }

    public var snapshot: ShipperStatsSnapshot { state.withLock { $0 } }
}

public struct ShipperStatsSnapshot: Sendable, Hashable {
    public var sent = 0
    public var acknowledged = 0
    public var duplicates = 0
    public var rejected = 0
    public var connects = 0
    public var lastAckMillis: Int64?
    public var connected = false
}

/// Streams closed batches to the hub over one mTLS gRPC stream and settles them as the hub
/// answers. On any stream error it reconnects with jittered exponential backoff and resends
/// every unacknowledged batch in order (the hub recognises the ones it already has).
///
/// A `Service`: on graceful shutdown it keeps the stream open until everything pending is
/// acknowledged or `drainTimeout` passes, then returns.
public final class Shipper: Service {
    let config: IngestClientConfiguration
    let queue: any ShippingQueue
    let hello: (agentInstanceID: String, nodeName: String)
    let backoff: Backoff
    let drainTimeout: Duration
    let logger: Logger
    let stats: ShipperStats
    let now: @Sendable () -> Int64
    /// The wake-up stream of the current session. Each session makes its own: cancelling a task
    /// that awaits an AsyncStream finishes that stream, so one stream cannot outlive a session.
    private let wake = Mutex<AsyncStream<Void>.Continuation?>(nil)
    private let shuttingDown = Mutex(false)

    public init(
        config: IngestClientConfiguration, queue: any ShippingQueue, hello: (agentInstanceID: String, nodeName: String),
        backoff: Backoff = Backoff(), drainTimeout: Duration = .seconds(10), stats: ShipperStats = ShipperStats(),
        now: @escaping @Sendable () -> Int64, logger: Logger
    ) {
        self.config = config
        self.queue = queue
        self.hello = hello
        self.backoff = backoff
        self.drainTimeout = drainTimeout
        self.stats = stats
        self.now = now
        self.logger = logger
    }

    /// Tells the shipper a batch was added to the queue.
    public func notify() {
        _ = wake.withLock { $0?.yield() }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.shuttingDown.withLock { $0 = true }
            self.notify()
        }
    }

    private var isShuttingDown: Bool { shuttingDown.withLock { $0 } }

    private func loop() async {
        var attempt = 0
        var drainDeadline: ContinuousClock.Instant?
        while true {
            if isShuttingDown {
                if drainDeadline == nil { drainDeadline = .now + drainTimeout }
                let empty = (try? await offload { self.queue.pending().isEmpty }) ?? true
                if empty || ContinuousClock.now >= drainDeadline! { return }
            }
            do {
                let settledAny = try await session(drainDeadline: drainDeadline)
                if settledAny { attempt = 0 }
            } catch is CancellationError {
                return
            } catch {
                stats.update { $0.connected = false }
                let delay = backoff.delay(attempt: attempt)
                attempt += 1
                logger.warning("stream to hub failed; reconnecting", metadata: [
                    "hub": "\(config.host):\(config.port)", "error": "\(describe(error))", "retryIn": "\(delay)",
                ])
                if isShuttingDown, let deadline = drainDeadline, ContinuousClock.now + delay >= deadline { return }
                try? await Task.sleep(for: delay)
                if Task.isCancelled { return }
            }
        }
    }

    /// One stream: sends everything pending, then new batches as they come, and settles replies.
    /// Returns normally only when shutting down with nothing pending (or past the deadline).
    private func session(drainDeadline: ContinuousClock.Instant?) async throws -> Bool {
        let settled = Flag()
        try await withIngestStream(config, hello: hello, agentVersion: "kubehero-agent") { [self] stream in
            stats.update { $0.connects += 1; $0.connected = true }
            logger.info("connected to hub", metadata: ["hub": "\(config.host):\(config.port)"])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await reply in stream.replies {
                        try await self.settle(reply)
                        settled.set()
                        self.notify()
                    }
                    throw IngestClientError(description: "hub closed the stream")
                }
                let (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                self.wake.withLock { $0 = wakeup }
                group.addTask {
                    var sent = Set<UInt64>()
                    var wakeups = wakeups.makeAsyncIterator()
                    repeat {
                        let pending = (try? await self.offload { self.queue.pending() }) ?? []
                        let pendingSet = Set(pending.map(\.sequence))
                        sent.formIntersection(pendingSet)
                        if pending.isEmpty && self.isShuttingDown { return }
                        for (sequence, bytes) in pending where !sent.contains(sequence) {
                            guard let batch = try? WireUsageBatch(serializedBytes: bytes) else {
                                // Cannot happen for bytes we encoded; never send garbage, drop it.
                                self.logger.error("unreadable batch in the queue; dropping it", metadata: ["sequence": "\(sequence)"])
                                try? await self.offload { try self.queue.reject(sequence: sequence) }
                                continue
                            }
                            stream.send(raw: .with { $0.batch = batch })
                            sent.insert(sequence)
                            self.stats.update { $0.sent += 1 }
                        }
                        if let deadline = drainDeadline, ContinuousClock.now >= deadline { return }
                    } while await wakeups.next() != nil
                }
                // Either child finishing ends the session: the sender only when drained on shutdown.
                defer {
                    self.wake.withLock { $0 = nil }
                    wakeup.finish()
                }
                try await group.next()
                group.cancelAll()
            }
        }
        return settled.isSet
    }

    private func settle(_ reply: IngestReply) async throws {
        switch reply {
        case .ack(_, let sequence, let duplicate):
            try await offload { try self.queue.acknowledge(sequence: sequence) }
            let t = now()
            stats.update {
                $0.acknowledged += 1
                if duplicate { $0.duplicates += 1 }
                $0.lastAckMillis = t
            }
        case .reject(_, let sequence, let field, let reason):
            logger.error("hub rejected a batch; dropping it", metadata: ["sequence": "\(sequence)", "field": "\(field)", "reason": "\(reason)"])
            try await offload { try self.queue.reject(sequence: sequence) }
            stats.update { $0.rejected += 1 }
        case .directive(let id, let kind, let parameters):
            // Enforcement is its own issue; for now directives are logged.
            logger.info("directive from hub", metadata: ["id": "\(id)", "kind": "\(kind)", "parameters": "\(parameters)"])
        }
    }

    /// Runs blocking queue work (it may fsync the spool) on the thread pool.
    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    private func describe(_ error: any Error) -> String {
        if let rpc = error as? RPCError { return "\(rpc.code): \(rpc.message)" }
        return "\(error)"
    }
}

/// A flag set from one task and read after it finished.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
