/// A store that can hold named leases shared by several hub replicas (the PostgreSQL backend):
/// what leader election is built on. The store's own clock decides expiry, so that replicas'
/// clocks need not agree.
public protocol LeaseStore: Sendable {
    /// Takes or renews the lease `name` for `holder` for `durationMillis` from now (the
    /// database's now). Returns true when `holder` holds it afterwards: it was free, expired,
    /// or already held by `holder`. Returns false while another holder's lease runs.
    func acquireLease(name: String, holder: String, durationMillis: Int64) async throws -> Bool
    /// Gives the lease up if `holder` holds it, so that another replica can take it at once.
    func releaseLease(name: String, holder: String) async throws
    /// Who holds the lease now, if anyone whose lease has not expired.
    func leaseHolder(name: String) async throws -> String?
}

/// How busy a store's connection pool is, for `/metrics`.
public struct ConnectionPoolUsage: Sendable, Hashable {
    /// `primary` or `replica`.
    public var pool: String
    /// Calls using a connection or waiting for one.
    public var inFlight: Int
    /// The pool's size: past it, calls wait.
    public var maximum: Int

    public init(pool: String, inFlight: Int, maximum: Int) {
        self.pool = pool
        self.inFlight = inFlight
        self.maximum = maximum
    }
}

/// A store that keeps connection pools (PostgreSQL); SQLite has none.
public protocol ConnectionPoolReporting: Sendable {
    var connectionPools: [ConnectionPoolUsage] { get }
}
