import KubeHeroStoreConformance
import KubeHeroTestSupport
import Testing

/// Every check of the `HubStore` conformance suite, each against a new PostgreSQL database.
@Test(.enabled(Comment(rawValue: TestPostgres.skipReason)) { try await TestPostgres.available() }, arguments: StoreConformance.checks)
func postgresStoreConforms(_ check: StoreConformanceCheck) async throws {
    try await TestPostgres.withStore { store, _, _ in
        try await check.run(store)
    }
}
