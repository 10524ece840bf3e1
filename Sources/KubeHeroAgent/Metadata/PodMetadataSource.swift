import KubeHeroCore
import Logging
import ServiceLifecycle
import Synchronization

/// Whether containers are named from pod metadata, for the agent's `/healthz`.
public enum PodMetadataStatus: Hashable, Sendable {
    /// Named from a kubelet answer (possibly a recent one, while the kubelet is briefly away).
    case ok
    /// Named by cgroup identity, for `reason`.
    case degraded(reason: String)
}

/// Holds the latest good pod metadata and names containers from it.
///
/// ``refresh()`` asks the kubelet and swaps a new snapshot in. When the kubelet fails, the last
/// good snapshot is kept while it is younger than `maxSnapshotAge`; after that, and before the
/// first answer, containers are named by cgroup identity
/// (``PodMetadataSnapshot/cgroupOnly(for:nodeName:outsideKubernetes:)``). Each change of state is
/// logged once, with its reason, not on every refresh.
///
/// As a `Service`, ``run()`` refreshes every `refreshInterval` until graceful shutdown. Lookups
/// (``identity(for:outsideKubernetes:)``, ``status``) are synchronous and may be called from
/// any thread.
public final class PodMetadataSource<C: Clock>: Service, Sendable where C.Duration == Duration {
    public let nodeName: String
    public let maxSnapshotAge: Duration
    public let refreshInterval: Duration
    private let fetcher: any PodListFetcher
    /// Sizes of the claims pods mount, from the API server; nil: no storage in batches.
    private let claims: ClaimSizes?
    private let clock: C
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var snapshot: PodMetadataSnapshot?
        var fetchedAt: C.Instant?
        /// Why the last refresh failed; nil after a good one.
        var failure: String?
        /// The last state logged, so that each is logged once.
        var logged: Mode?
        /// The problems of the last snapshot logged.
        var loggedProblems: [ValidationError] = []
    }

    private enum Mode: Hashable {
        case fresh
        case stale(reason: String)
        case cgroup(reason: String)
    }

    public init(
        fetcher: any PodListFetcher, nodeName: String, clock: C,
        maxSnapshotAge: Duration = .seconds(300), refreshInterval: Duration = .seconds(10), claims: ClaimSizes? = nil, logger: Logger
    ) {
        self.fetcher = fetcher
        self.claims = claims
        self.nodeName = nodeName
        self.clock = clock
        self.maxSnapshotAge = maxSnapshotAge
        self.refreshInterval = refreshInterval
        self.logger = logger
    }

    /// The snapshot containers are named from now; nil while degraded.
    public var snapshot: PodMetadataSnapshot? {
        let now = clock.now
        return state.withLock { state in
            if case .cgroup = mode(state, now: now) { return nil }
            return state.snapshot
        }
    }

    public var status: PodMetadataStatus {
        let now = clock.now
        return state.withLock { state in
            if case let .cgroup(reason) = mode(state, now: now) { return .degraded(reason: reason) }
            return .ok
        }
    }

    /// Who `container` is: from pod metadata when there is a usable snapshot that knows it, else
    /// by cgroup identity. `outsideKubernetes` is for cgroups found by `--match`.
    public func identity(for container: CgroupContainer, outsideKubernetes: Bool = false) -> ContainerIdentity {
        if !outsideKubernetes, let identity = snapshot?.identity(for: container) { return identity }
        return PodMetadataSnapshot.cgroupOnly(for: container, nodeName: nodeName, outsideKubernetes: outsideKubernetes)
    }

    /// Asks the kubelet once and keeps what it says; a failure is recorded, never thrown.
    public func refresh() async {
        let outcome: Result<PodMetadataSnapshot, any Error>
        do {
            let list = try await fetcher.fetchPods()
            if let claims {
                await claims.update(for: list)
                outcome = .success(PodMetadataSnapshot(list) { claims.claim(namespace: $0, name: $1) })
            } else {
                outcome = .success(PodMetadataSnapshot(list))
            }
        } catch {
            // Cancelled by shutdown: says nothing about the kubelet.
            if Task.isCancelled { return }
            outcome = .failure(error)
        }
        let now = clock.now
        let (change, newProblems) = state.withLock { state -> (Mode?, [ValidationError]?) in
            switch outcome {
            case let .success(snapshot):
                state.snapshot = snapshot
                state.fetchedAt = now
                state.failure = nil
            case let .failure(error):
                state.failure = (error as? KubeletError)?.description ?? "kubelet at \(fetcher.endpoint): \(error)"
            }
            let mode = mode(state, now: now)
            if case .cgroup = mode { state.snapshot = nil }
            let change = mode == state.logged ? nil : mode
            state.logged = mode
            var newProblems: [ValidationError]?
            if case let .success(snapshot) = outcome, snapshot.problems != state.loggedProblems {
                state.loggedProblems = snapshot.problems
                newProblems = snapshot.problems
            }
            return (change, newProblems)
        }
        let metadata: Logger.Metadata = ["kubelet": "\(fetcher.endpoint)"]
        switch change {
        case .fresh:
            let pods = (try? outcome.get().podCount) ?? 0
            logger.info("naming containers from the kubelet's pod metadata (\(pods) pods)", metadata: metadata)
        case let .stale(reason):
            logger.warning("\(reason); keeping the last pod metadata for up to \(maxSnapshotAge)", metadata: metadata)
        case let .cgroup(reason):
            logger.warning("\(reason); naming containers by cgroup identity", metadata: metadata)
        case nil:
            break
        }
        for problem in newProblems ?? [] {
            logger.warning("pod metadata field not used (counted as 0): \(problem)", metadata: metadata)
        }
    }

    /// Refreshes now and then every `refreshInterval`, until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await self.clock.sleep(for: self.refreshInterval)
            }
        }
    }

    private func mode(_ state: State, now: C.Instant) -> Mode {
        guard let fetchedAt = state.fetchedAt, state.snapshot != nil else {
            return .cgroup(reason: state.failure ?? "the kubelet at \(fetcher.endpoint) has not been asked yet")
        }
        guard let failure = state.failure else { return .fresh }
        if fetchedAt.duration(to: now) <= maxSnapshotAge { return .stale(reason: failure) }
        return .cgroup(reason: failure)
    }
}

extension PodMetadataSource where C == ContinuousClock {
    /// A source on the continuous clock.
    public convenience init(
        fetcher: any PodListFetcher, nodeName: String,
        maxSnapshotAge: Duration = .seconds(300), refreshInterval: Duration = .seconds(10), claims: ClaimSizes? = nil, logger: Logger
    ) {
        self.init(fetcher: fetcher, nodeName: nodeName, clock: ContinuousClock(), maxSnapshotAge: maxSnapshotAge, refreshInterval: refreshInterval, claims: claims, logger: logger)
    }
}
