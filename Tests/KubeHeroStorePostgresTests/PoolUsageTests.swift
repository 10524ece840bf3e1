import KubeHeroStore
import KubeHeroStorePostgres
import KubeHeroTestSupport
import Testing

/// The pool gauges behind `kubehero_db_pool_requests_in_flight` and `..._connections_max`.
@Suite("PostgreSQL pool usage", .enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() })
struct PostgresPoolUsageTests {
    @Test("calls waiting for a busy table count as in flight, past the pool's size, and leave when they end")
    func inFlightCountsWaitingCalls() async throws {
        try await TestPostgres.withDatabase { url, name in
            let store = try await PostgresStore.open(try PostgresStoreConfiguration(url: url + "&pool_max=3"), logger: quietLogger)
            #expect(store.connectionPools == [ConnectionPoolUsage(pool: "primary", inFlight: 0, maximum: 3)])
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Another session holds the clusters table for 3 s: every read of it waits.
                group.addTask {
                    try await TestPostgres.run("DO $$ BEGIN LOCK TABLE clusters IN ACCESS EXCLUSIVE MODE; PERFORM pg_sleep(3); END $$", in: name)
                }
                try await Task.sleep(for: .milliseconds(500))
                for _ in 0..<5 { group.addTask { _ = try await store.listClusters() } }
                var seen = 0
                for _ in 0..<100 where seen < 5 {
                    seen = store.connectionPools.first?.inFlight ?? 0
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(seen == 5, "5 calls on a pool of 3: 3 using a connection, 2 waiting for one")
                try await group.waitForAll()
            }
            #expect(store.connectionPools.first?.inFlight == 0)
            try await store.close()
        }
    }
}
