import KubeHeroCore
import KubeHeroStore

/// One behaviour every `HubStore` must have, runnable against any store.
///
/// Each check expects a fresh, empty store and throws `ConformanceFailure` (or the store's own
/// error) when the store does not behave. A test target runs them all:
///
/// ```swift
/// @Test(arguments: StoreConformance.checks)
/// func conforms(_ check: StoreConformanceCheck) async throws {
///     try await withFreshStore { store in try await check.run(store) }
/// }
/// ```
public struct StoreConformanceCheck: Sendable, CustomStringConvertible {
    public let name: String
    public let run: @Sendable (any HubStore) async throws -> Void

    public init(_ name: String, run: @escaping @Sendable (any HubStore) async throws -> Void) {
        self.name = name
        self.run = run
    }

    public var description: String { name }
}

/// What a store did wrong, in numbers: `costs by namespace: expected total 1500000000 nano-USD
/// for "payments", got 1400000000`.
public struct ConformanceFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// The conformance suite of `HubStore`: `SQLiteStore` passes it, and so must every other store.
public enum StoreConformance {
    public static var checks: [StoreConformanceCheck] {
        ClusterChecks.all + TokenChecks.all + AuditChecks.all + IngestChecks.all + QueryChecks.all + MaintenanceChecks.all + PricingChecks.all + PolicyChecks.all + RollupChecks.all
    }
}

// MARK: Expectations

func fail(_ message: String) -> ConformanceFailure { ConformanceFailure(message) }

func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: @autoclosure () -> String) throws {
    if actual != expected {
        throw fail("\(what()): expected \(expected), got \(actual)")
    }
}

/// `body` must throw `StoreError` with `code`, and a message containing `mention`.
func expectStoreError(
    _ code: StoreError.Code, mentioning mention: String, _ what: String, _ body: () async throws -> Void
) async throws {
    do {
        try await body()
    } catch let error as StoreError {
        if error.code != code {
            throw fail("\(what): expected StoreError .\(code), got .\(error.code): \(error.message)")
        }
        if !error.message.contains(mention) {
            throw fail("\(what): expected the error message to mention \(mention), got: \(error.message)")
        }
        return
    } catch {
        throw fail("\(what): expected StoreError .\(code), got \(error)")
    }
    throw fail("\(what): expected StoreError .\(code), but it succeeded")
}

/// The groups, in this order, with these total costs in nano-USD.
func expectTotals(_ groups: [CostGroup], _ expected: KeyValuePairs<String, Int64>, _ what: String) throws {
    for (name, total) in expected {
        guard let group = groups.first(where: { $0.name == name }) else {
            throw fail("\(what): expected a group \"\(name)\", got groups \(groups.map(\.name))")
        }
        if group.cost.total.nanoUSD != total {
            throw fail("\(what): expected total \(total) nano-USD for \"\(name)\", got \(group.cost.total.nanoUSD)")
        }
    }
    let names = expected.map(\.key)
    if groups.map(\.name) != names {
        throw fail("\(what): expected groups \(names) (by total cost descending, then name), got \(groups.map(\.name))")
    }
}

/// The buckets, in this order, with these total costs in nano-USD.
func expectBuckets(_ buckets: [SeriesBucket], _ expected: KeyValuePairs<Int64, Int64>, _ what: String) throws {
    let starts = expected.map(\.key)
    if buckets.map(\.startMillis) != starts {
        throw fail("\(what): expected buckets starting at \(starts), got \(buckets.map(\.startMillis))")
    }
    for (bucket, (start, total)) in zip(buckets, expected) where bucket.cost.total.nanoUSD != total {
        throw fail("\(what): expected total \(total) nano-USD for the bucket at \(start), got \(bucket.cost.total.nanoUSD)")
    }
}
