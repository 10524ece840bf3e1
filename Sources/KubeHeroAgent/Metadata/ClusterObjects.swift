import KubeHeroCore
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps this node's description (``NodeInfo``) current from its Node object in the API
/// server: instance type, zone, capacity type, capacity, and the `kubehero.io/node-hourly-usd`
/// price override.
///
/// Until the first answer, and whenever the API server cannot be asked, ``current`` is the last
/// good description, else the one from flags and the host (`fallback`). Each change of state
/// is logged once. As a `Service`, ``run()`` refreshes every `refreshInterval` until graceful
/// shutdown.
public final class NodeObjectSource: Service, Sendable {
    private let api: KubernetesAPI
    private let fallback: NodeInfo
    private let flagLabels: [String: String]
    private let refreshInterval: Duration
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var node: NodeInfo
        var failure: String?
        var logged: String?
    }

    /// `fallback` names the node and gives its capacity when the Node object does not;
    /// `flagLabels` are labels given as flags, which win over the object's.
    public init(api: KubernetesAPI, fallback: NodeInfo, flagLabels: [String: String], refreshInterval: Duration = .seconds(60), logger: Logger) {
        self.api = api
        self.fallback = fallback
        self.flagLabels = flagLabels
        self.refreshInterval = refreshInterval
        self.logger = logger
        state = Mutex(State(node: fallback))
    }

    /// The node as last described.
    public var current: NodeInfo { state.withLock { $0.node } }

    /// Asks the API server once; a failure is logged (once per reason), never thrown.
    public func refresh() async {
        let outcome: Result<KubernetesNode, KubeletError>
        do {
            outcome = .success(try await api.node(named: fallback.name))
        } catch {
            if Task.isCancelled { return }
            outcome = .failure(error)
        }
        let (message, node) = state.withLock { state -> (String?, NodeInfo) in
            let key: String
            switch outcome {
            case .success(let object):
                state.node = NodeInfo.fromNode(
                    object, flagLabels: flagLabels, cpuMillicores: fallback.cpuCapacityMillicores, memoryBytes: fallback.memoryCapacityBytes
                )
                state.failure = nil
                key = "ok \(state.node)"
            case .failure(let error):
                state.failure = error.description
                key = error.description
            }
            defer { state.logged = key }
            return (state.logged == key ? nil : key, state.node)
        }
        guard message != nil else { return }
        switch outcome {
        case .success:
            logger.info("node described by its Node object", metadata: [
                "node": "\(node.name)", "instanceType": "\(node.instanceType)", "zone": "\(node.zone)",
                "capacityType": "\(node.capacityType.rawValue)",
                "hourlyPriceOverride": "\(node.hourlyPriceOverride.isEmpty ? "none" : node.hourlyPriceOverride)",
            ])
        case .failure(let error):
            logger.warning("\(error); keeping the node description from \(node == fallback ? "flags and the host" : "the last answer")")
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                try? await Task.sleep(for: self.refreshInterval)
            }
        }
    }
}

/// Sizes of the persistent volume claims this node's pods mount, read from the API server and
/// kept for `maxAge` (claims rarely change size). ``update(for:)`` asks for the claims a pod
/// list names that are new or stale, at most `maxFetchesPerUpdate` at a time, and forgets the
/// ones no pod names any more. A claim that cannot be read is left out of batches (and logged
/// once), so storage is never priced at a guessed size.
public final class ClaimSizes: Sendable {
    struct Key: Hashable, Sendable {
        var namespace: String
        var name: String
    }

    private struct Entry {
        var claim: VolumeClaim?
        var fetchedAt: ContinuousClock.Instant
    }

    private let api: KubernetesAPI
    private let maxAge: Duration
    private let maxFetchesPerUpdate: Int
    private let logger: Logger
    private let entries = Mutex<[Key: Entry]>([:])
    private let loggedFailures = Mutex<Set<String>>([])

    public init(api: KubernetesAPI, maxAge: Duration = .seconds(600), maxFetchesPerUpdate: Int = 32, logger: Logger) {
        self.api = api
        self.maxAge = maxAge
        self.maxFetchesPerUpdate = maxFetchesPerUpdate
        self.logger = logger
    }

    /// The claim as a batch carries it, or nil when it is unknown or could not be read.
    public func claim(namespace: String, name: String) -> VolumeClaim? {
        entries.withLock { $0[Key(namespace: namespace, name: name)]?.claim }
    }

    /// Reads the claims `list` names that are not known or are older than `maxAge`.
    public func update(for list: KubeletPodList) async {
        var wanted = Set<Key>()
        for pod in list.items {
            for name in pod.claimNames { wanted.insert(Key(namespace: pod.metadata.namespace, name: name)) }
        }
        let now = ContinuousClock.now
        let due = entries.withLock { entries -> [Key] in
            entries = entries.filter { wanted.contains($0.key) }
            return wanted.filter { key in
                guard let entry = entries[key] else { return true }
                // A claim that could not be read is asked again sooner than a known one.
                return entry.fetchedAt.duration(to: now) > (entry.claim == nil ? min(maxAge, .seconds(60)) : maxAge)
            }
                .sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        }
        let batch = due.prefix(maxFetchesPerUpdate)
        for (i, key) in batch.enumerated() {
            if Task.isCancelled { return }
            var claim: VolumeClaim?
            do {
                claim = try await api.claim(namespace: key.namespace, name: key.name).volumeClaim()
            } catch let error as KubeletError {
                if [.unreachable, .timeout, .tls].contains(error.code) {
                    // The API server itself is away: asking for the other claims would only hold
                    // up the kubelet refresh this runs in, one timeout each. Next round.
                    logOnce("\(error); \(batch.count - i) claims not read this round, their storage is not priced until they are")
                    return
                }
                logOnce("\(error); its storage is not priced")
            } catch {
                logOnce("persistent volume claim \(key.namespace)/\(key.name): \(error); its storage is not priced")
            }
            let fetched = ContinuousClock.now
            entries.withLock { $0[key] = Entry(claim: claim, fetchedAt: fetched) }
        }
    }

    private func logOnce(_ message: String) {
        let first = loggedFailures.withLock { set in
            if set.count > 1000 { set.removeAll() }
            return set.insert(message).inserted
        }
        if first { logger.warning("\(message)") }
    }
}
