import AsyncHTTPClient
import Crypto
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPricing
import KubeHeroStore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where the hub reads catalogs from: a file, a directory of `*.json` catalogs (merged), or
/// an http(s) URL of one catalog — for air-gapped installs, a file or an internal URL.
public struct PricingSource: Sendable, Hashable, CustomStringConvertible {
    public var location: String

    public init(_ location: String) { self.location = location }

    public var isURL: Bool { location.hasPrefix("https://") || location.hasPrefix("http://") }
    public var description: String { location }

    /// Reads and checks the catalog. File work runs on the thread pool, not on a caller's
    /// executor; a URL is fetched with a 30 s timeout and at most 64 MiB.
    public func load(threadPool: NIOThreadPool = .singleton) async throws -> PricingCatalog {
        if isURL { return try await fetch() }
        let location = self.location
        return try await threadPool.runIfActive {
            if (try? FileManager.default.contentsOfDirectory(atPath: location)) != nil {
                return try PricingCatalog.load(directory: location)
            }
            return try PricingCatalog.load(path: location)
        }
    }

    private func fetch() async throws -> PricingCatalog {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await client.execute(HTTPClientRequest(url: location), timeout: .seconds(30))
            guard response.status == .ok else {
                throw CatalogError(file: location, path: "$", "fetching the catalog answered HTTP \(response.status.code)")
            }
            let body = try await response.body.collect(upTo: 64 << 20)
            let catalog = try PricingCatalog.decode(Data(body.readableBytesView), file: location)
            try await client.shutdown()
            return catalog
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

/// The price versions the hub prices with: loaded from the store when the hub opens, and
/// extended by every import (REST, `kubehero pricing import`, the periodic refresh). Samples are
/// priced with the version in force at their time; before the first version, with the
/// built-in default rate card.
public final class HubPricing: Sendable {
    private let schedule = Mutex(PriceSchedule.empty)
    private let fallback: CatalogPriceBook
    let store: any HubStore
    let logger: Logger

    init(store: any HubStore, logger: Logger) throws {
        self.store = store
        self.logger = logger
        self.fallback = try CatalogPriceBook(catalog: .builtIn)
    }

    /// The book in force at `millis`.
    public func book(at millis: Int64) -> any PriceBook {
        schedule.withLock { $0.book(at: millis) } ?? fallback
    }

    /// Reads every stored version; a stored catalog that no longer decodes fails the hub's start.
    func reload() async throws {
        let versions = try await store.priceVersions()
        var decoded = [(id: Int64, effectiveAtMillis: Int64, catalog: PricingCatalog)]()
        for v in versions {
            decoded.append((v.id, v.effectiveAtMillis, try PricingCatalog.decode(Data(v.catalogJSON.utf8), file: "price version \(v.id)")))
        }
        let loaded = try PriceSchedule(versions: decoded)
        schedule.withLock { $0 = loaded }
    }

    /// The outcome of an import.
    public struct ImportResult: Sendable {
        /// The new version, or the latest one when nothing changed.
        public var version: PriceVersionRecord
        /// False when the catalog equals the latest version's (nothing was stored).
        public var imported: Bool
    }

    /// Imports `catalog` as a new price version effective at `effectiveAtMillis`, unless it
    /// equals the latest version (then nothing is stored and `imported` is false).
    @discardableResult
    public func importCatalog(_ catalog: PricingCatalog, origin: String, effectiveAtMillis: Int64, nowMillis: Int64, actor: AuditActor = .hub) async throws -> ImportResult {
        try catalog.validate()
        let versions = try await store.priceVersions()
        let latest = versions.max { ($0.effectiveAtMillis, $0.id) < ($1.effectiveAtMillis, $1.id) }
        let previous = try latest.map { try PricingCatalog.decode(Data($0.catalogJSON.utf8), file: "price version \($0.id)") }
        if let latest, previous == catalog {
            return ImportResult(version: latest, imported: false)
        }
        let record = try await store.importPriceVersion(PriceVersionRecord(
            effectiveAtMillis: effectiveAtMillis, importedAtMillis: nowMillis, origin: origin,
            catalogJSON: catalog.canonicalJSON(), changes: catalog.changes(from: previous)
        )) { stored in
            [AuditDraft(timeMillis: nowMillis, actor: actor, action: .pricingImport, subject: "price-version/\(stored.id)", details: [
                "origin": .string(stored.origin), "effectiveAt": .string(Timestamp.rfc3339(millis: stored.effectiveAtMillis)),
                "catalogSHA256": .string(Hex.encode(SHA256.hash(data: Array(stored.catalogJSON.utf8)))),
                "changeCount": .int(Int64(stored.changes.count)),
                "changes": .array(stored.changes.prefix(50).map { .string($0) }),
            ])]
        }
        try await reload()
        logger.info("imported price version", metadata: [
            "version": "\(record.id)", "origin": "\(origin)", "effectiveAt": "\(Timestamp.rfc3339(millis: effectiveAtMillis))",
            "changes": "\(record.changes.count)",
        ])
        return ImportResult(version: record, imported: true)
    }
}

/// Re-reads the configured pricing source every interval (default 6 h) and imports it as a new
/// price version, effective from then, when it changed. A source that cannot be read or does
/// not validate is logged and retried at the next interval; the versions in force stay.
struct PricingRefreshService: Service {
    let pricing: HubPricing
    let source: PricingSource
    let intervalMillis: Int64
    let now: @Sendable () -> Int64
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(intervalMillis))
                if Task.isCancelled { break }
                await refresh()
            }
        }
    }

    func refresh() async {
        do {
            let catalog = try await source.load()
            let t = now()
            let result = try await pricing.importCatalog(catalog, origin: source.location, effectiveAtMillis: t, nowMillis: t)
            if !result.imported { logger.debug("pricing source unchanged", metadata: ["source": "\(source)"]) }
        } catch {
            logger.warning("pricing refresh failed; the current price version stays in force", metadata: [
                "source": "\(source)", "error": "\(error)",
            ])
        }
    }
}
