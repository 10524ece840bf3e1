import KubeHeroCore
import Synchronization

/// The enforcement set each cluster should hold, and the operator streams that want it.
///
/// The evaluator publishes every cluster's set after each pass; a stream of an edge operator
/// subscribes when it opens and asks for the current set once it says it is an operator.
/// Each subscription is an `AsyncStream` that keeps only the newest set (an older one is
/// worthless once a newer exists), written to the stream by one task, so sets arrive in order.
public final class EnforcementBroadcaster: Sendable {
    private struct Subscriber {
        var cluster: String
        var continuation: AsyncStream<EnforcementSet>.Continuation
    }

    private struct State {
        var sets: [String: EnforcementSet] = [:]
        var subscribers: [Int: Subscriber] = [:]
        var nextID = 0
        /// The set id each cluster last acknowledged (to record only changes).
        var acknowledged: [String: String] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The set `cluster` should hold now (empty when nothing is enforced there).
    public func current(cluster: String) -> EnforcementSet {
        state.withLock { $0.sets[cluster] } ?? EnforcementSet(rules: [])
    }

    /// Replaces every cluster's set; subscribers of clusters whose set changed get the new one.
    /// Clusters missing from `sets` hold the empty set.
    public func publish(_ sets: [String: EnforcementSet]) {
        let deliveries = state.withLock { s -> [(AsyncStream<EnforcementSet>.Continuation, EnforcementSet)] in
            let empty = EnforcementSet(rules: [])
            var changed: [String: EnforcementSet] = [:]
            for cluster in Set(s.sets.keys).union(sets.keys) {
                let new = sets[cluster] ?? empty
                if (s.sets[cluster] ?? empty) != new { changed[cluster] = new }
            }
            s.sets = sets.filter { !$0.value.rules.isEmpty }
            return s.subscribers.values.compactMap { sub in changed[sub.cluster].map { (sub.continuation, $0) } }
        }
        for (c, set) in deliveries { c.yield(set) }
    }

    /// A stream of `cluster`'s sets; nothing is sent until `resend(id:)` or a change.
    public func subscribe(cluster: String) -> (id: Int, sets: AsyncStream<EnforcementSet>) {
        let (stream, continuation) = AsyncStream.makeStream(of: EnforcementSet.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { s in
            s.nextID += 1
            s.subscribers[s.nextID] = Subscriber(cluster: cluster, continuation: continuation)
            return s.nextID
        }
        return (id, stream)
    }

    /// Sends the subscriber its cluster's current set (an operator that just said hello).
    public func resend(id: Int) {
        let delivery = state.withLock { s -> (AsyncStream<EnforcementSet>.Continuation, EnforcementSet)? in
            guard let sub = s.subscribers[id] else { return nil }
            return (sub.continuation, s.sets[sub.cluster] ?? EnforcementSet(rules: []))
        }
        if let (c, set) = delivery { c.yield(set) }
    }

    public func unsubscribe(id: Int) {
        let c = state.withLock { $0.subscribers.removeValue(forKey: id)?.continuation }
        c?.finish()
    }

    /// Notes an acknowledgement; returns the policies of the acknowledged set when it is news
    /// (a different set than the cluster acknowledged before), nil when it is a repeat.
    func acknowledge(cluster: String, setID: String) -> [String]? {
        state.withLock { s in
            guard s.acknowledged[cluster] != setID else { return nil }
            s.acknowledged[cluster] = setID
            let current = s.sets[cluster] ?? EnforcementSet(rules: [])
            return current.id == setID ? current.rules.map(\.policy) : []
        }
    }
}
