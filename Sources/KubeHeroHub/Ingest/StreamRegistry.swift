import Synchronization

/// The agent streams open on this hub, by cluster and certificate serial, so that removing a
/// cluster or revoking a certificate closes its open streams at once.
///
/// Each stream registers and gets an `AsyncStream` that yields once if it is revoked; the
/// stream's handler races that against its message loop.
public final class StreamRegistry: Sendable {
    public struct Entry: Sendable {
        public var id: Int
        public var cluster: String
        public var serialHex: String
        public var node: String
    }

    /// Why an open stream is being closed.
    public enum Closure: Sendable, Hashable {
        /// The cluster was removed or the certificate revoked: the agent must not come back with it.
        case revoked(String)
        /// The hub is shutting down: the agent should reconnect (to this or another replica).
        case shutdown
    }

    private struct State {
        var nextID = 0
        var closing = false
        var entries: [Int: (entry: Entry, revoke: AsyncStream<Closure>.Continuation)] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers an open stream; the returned sequence yields the reason if it gets revoked.
    public func register(cluster: String, serialHex: String) -> (id: Int, closed: AsyncStream<Closure>) {
        let (stream, continuation) = AsyncStream.makeStream(of: Closure.self, bufferingPolicy: .bufferingNewest(1))
        let (id, closing) = state.withLock { s -> (Int, Bool) in
            s.nextID += 1
            s.entries[s.nextID] = (Entry(id: s.nextID, cluster: cluster, serialHex: serialHex, node: ""), continuation)
            return (s.nextID, s.closing)
        }
        if closing { continuation.yield(.shutdown) }
        return (id, stream)
    }

    /// Closes every open stream (and any opened from now on) because the hub is stopping.
    public func closeAll() {
        let all = state.withLock { s in
            s.closing = true
            return s.entries.values.map(\.revoke)
        }
        for c in all { c.yield(.shutdown) }
    }

    public func setNode(id: Int, node: String) {
        state.withLock { s in s.entries[id]?.entry.node = node }
    }

    public func unregister(id: Int) {
        let c = state.withLock { s in s.entries.removeValue(forKey: id)?.revoke }
        c?.finish()
    }

    /// Closes every open stream of `cluster`; returns how many.
    @discardableResult
    public func revoke(cluster: String, reason: String) -> Int {
        revokeWhere(reason: reason) { $0.cluster == cluster }
    }

    /// Closes every open stream using one of `serials`; returns how many.
    @discardableResult
    public func revoke(serials: Set<String>, reason: String) -> Int {
        revokeWhere(reason: reason) { serials.contains($0.serialHex) }
    }

    private func revokeWhere(reason: String, _ match: (Entry) -> Bool) -> Int {
        let hits = state.withLock { s in s.entries.values.filter { match($0.entry) }.map(\.revoke) }
        for c in hits { c.yield(.revoked(reason)) }
        return hits.count
    }

    /// Snapshot of open streams.
    public var entries: [Entry] { state.withLock { s in s.entries.values.map(\.entry) } }

    /// Serial numbers in use by open streams.
    public var openSerials: Set<String> { state.withLock { s in Set(s.entries.values.map(\.entry.serialHex)) } }
}
