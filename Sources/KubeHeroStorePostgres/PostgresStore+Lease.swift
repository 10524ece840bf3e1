import KubeHeroStore
import PostgresNIO

extension PostgresStore: LeaseStore {
    /// One statement: take the lease if it is free or expired, renew it if `holder` has it. The
    /// database's clock decides, so that replicas' clocks need not agree.
    public func acquireLease(name: String, holder: String, durationMillis: Int64) async throws -> Bool {
        let rows = try await read("taking lease \"\(name)\"", """
            INSERT INTO leases AS l (name, holder, expires_at, acquired_at)
            VALUES (\(name), \(holder), clock_timestamp() + \(durationMillis)::double precision * interval '1 millisecond', clock_timestamp())
            ON CONFLICT (name) DO UPDATE SET
                holder = excluded.holder,
                expires_at = excluded.expires_at,
                acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE excluded.acquired_at END
            WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp()
            RETURNING holder
            """)
        return !rows.isEmpty
    }

    public func releaseLease(name: String, holder: String) async throws {
        _ = try await read("releasing lease \"\(name)\"", "DELETE FROM leases WHERE name = \(name) AND holder = \(holder) RETURNING 1")
    }

    public func leaseHolder(name: String) async throws -> String? {
        try await read("reading lease \"\(name)\"", "SELECT holder FROM leases WHERE name = \(name) AND expires_at >= clock_timestamp()")
            .first?.decode(String.self)
    }
}
