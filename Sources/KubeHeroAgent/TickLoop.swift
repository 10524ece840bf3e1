import KubeHeroCore
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Names a discovered container: from the kubelet's pod metadata when it has it, else from the
/// cgroup alone.
public protocol ContainerNamer: Sendable {
    func identity(for container: CgroupContainer) -> ContainerIdentity
}

/// Where closed batches go (the buffer); `append` may write the spool, so it runs on the pool.
public protocol BatchSink: Sendable {
    func append(_ batch: UsageBatch) throws
    /// Batches and samples dropped since the last call (reported in the next batch).
    func takeDropCounts() -> (batches: UInt64, samples: UInt64)
}

/// Counters of the sampling side, for /metrics.
public struct SamplingStats: Sendable, Hashable {
    public var ticks = 0
    public var samples = 0
    public var batchesClosed = 0
    public var containers = 0
    public var discoveries = 0
    public var sampleErrors = 0
    public var missedTicks = 0
}

/// The agent's clock-driven loop: every tick it reads the containers' counters; every flush
/// interval it closes the batch and hands it to the buffer; every rescan interval it looks for
/// new and gone containers. Tick and flush boundaries are aligned to wall-clock multiples, so a
/// 60 s batch covers exactly one minute.
///
/// A `Service`: on graceful shutdown it closes the partial batch (so it is shipped) and returns.
public final class TickLoop: Service {
    public struct Configuration: Sendable {
        public var tickMillis: UInt32 = 1000
        public var flushMillis: Int64 = 60_000
        public var rescanMillis: Int64 = 5_000
        public var agentInstanceID: String
        public var firstSequence: UInt64
        /// The node as batches describe it, when `currentNode` is not given.
        public var node: NodeInfo
        /// The node as it is described now (from its Node object), asked at each batch close.
        public var currentNode: (@Sendable () -> NodeInfo)?

        public init(agentInstanceID: String, firstSequence: UInt64, node: NodeInfo) {
            self.agentInstanceID = agentInstanceID
            self.firstSequence = firstSequence
            self.node = node
        }
    }

    let configuration: Configuration
    let sampler: any UsageSampler
    let namer: any ContainerNamer
    let sink: any BatchSink
    let onBatch: @Sendable () -> Void
    let logger: Logger
    let stats = Mutex(SamplingStats())

    public init(
        configuration: Configuration, sampler: any UsageSampler, namer: any ContainerNamer, sink: any BatchSink,
        logger: Logger, onBatch: @escaping @Sendable () -> Void
    ) {
        self.configuration = configuration
        self.sampler = sampler
        self.namer = namer
        self.sink = sink
        self.logger = logger
        self.onBatch = onBatch
    }

    public var statsSnapshot: SamplingStats { stats.withLock { $0 } }

    static func wallMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    public func run() async throws {
        let c = configuration
        let ticksPerBatch = Int(c.flushMillis / Int64(c.tickMillis))
        var builder = BatchBuilder(tickMillis: c.tickMillis, ticksPerBatch: max(ticksPerBatch, 1))
        var sequence = c.firstSequence
        var containers: [CgroupContainer] = []
        var known = Set<UInt64>()
        var identities: [UInt64: ContainerIdentity] = [:]
        var lastScan: Int64? = nil
        var scanned = false
        // Containers found after the first scan, not yet read: their whole counter is new usage.
        var pendingNew = Set<UInt64>()
        let tick = Int64(c.tickMillis)

        // Ticks this loop could not sample (it ran late) since the last batch it closed.
        var missedSinceBatch: UInt64 = 0

        func closeBatch(at t: Int64) async {
            // Whole batches the buffer dropped travel as droppedBatches; ticks the loop missed
            // as droppedTicks. Both make the hub record a visible gap.
            let drops = sink.takeDropCounts()
            guard let batch = builder.close(
                endMillis: t, agentInstanceID: c.agentInstanceID, sequence: sequence, node: c.currentNode?() ?? c.node, source: sampler.source,
                droppedTicks: missedSinceBatch, droppedBatches: drops.batches
            ) else { return }
            missedSinceBatch = 0
            do {
                try await NIOThreadPool.singleton.runIfActive { [sink] in try sink.append(batch) }
                sequence += 1
                stats.withLock { $0.batchesClosed += 1 }
                onBatch()
            } catch {
                logger.error("could not buffer a closed batch; its samples are lost and reported as dropped", metadata: ["error": "\(error)"])
            }
        }

        var nextTick = (Self.wallMillis() / tick + 1) * tick
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Sleep to the next tick boundary; wake early on shutdown.
            let wait = nextTick - Self.wallMillis()
            if wait > 0 { try? await Task.sleep(for: .milliseconds(wait)) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            let t = nextTick

            if lastScan.map({ t - $0 >= c.rescanMillis }) ?? true {
                do {
                    let found = try await NIOThreadPool.singleton.runIfActive { [sampler] in try sampler.discover() }
                    let ids = Set(found.map(\.cgroupID))
                    let newOnes = ids.subtracting(known)
                    if !newOnes.isEmpty || ids.count != known.count {
                        logger.debug("containers changed", metadata: ["containers": "\(ids.count)", "new": "\(newOnes.count)"])
                    }
                    containers = found
                    known = ids
                    identities = Dictionary(uniqueKeysWithValues: found.map { ($0.cgroupID, namer.identity(for: $0)) })
                    lastScan = t
                    stats.withLock { $0.discoveries += 1; $0.containers = found.count }
                    if scanned { pendingNew.formUnion(newOnes) }
                    scanned = true
                } catch {
                    stats.withLock { $0.sampleErrors += 1 }
                    logger.warning("cgroup discovery failed; keeping the previous list", metadata: ["error": "\(error)"])
                }
            }

            let current = containers
            let readings = (try? await NIOThreadPool.singleton.runIfActive { [sampler] in sampler.read(current) }) ?? []
            let names = identities
            let newOnes = pendingNew
            builder.record(readings, atMillis: t, identities: { names[$0] ?? ContainerIdentity(namespace: "unknown", pod: "unknown", container: "\($0)") }, newContainers: newOnes)
            pendingNew.subtract(readings.map(\.cgroupID))
            stats.withLock { $0.ticks += 1; $0.samples += readings.count }

            if builder.isFull(atMillis: t) || t % c.flushMillis == 0 {
                await closeBatch(at: t)
            }
            // Skip ticks we were too late for (a stalled machine), counting them.
            nextTick = t + tick
            let now = Self.wallMillis()
            if now - nextTick > tick {
                let missed = (now - nextTick) / tick
                stats.withLock { $0.missedTicks += Int(missed) }
                missedSinceBatch += UInt64(missed)
                nextTick += missed * tick
            }
        }
        // Shutdown: ship what the open batch holds.
        await closeBatch(at: (Self.wallMillis() / tick) * tick)
    }
}
