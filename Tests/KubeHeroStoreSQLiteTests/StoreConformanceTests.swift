import KubeHeroStoreConformance
import Testing

/// Every check of the `HubStore` conformance suite, each against a new SQLite file.
@Test(arguments: StoreConformance.checks)
func sqliteStoreConforms(_ check: StoreConformanceCheck) async throws {
    try await withTemporaryStore { store, _ in
        try await check.run(store)
    }
}
