import KubeHeroCore
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension HubClient {
    /// `GET /v1/pricing` with `cloud`, `region`, `type`, `spot` or `cluster`, `node`, and `at`.
    public func pricingRates(_ items: [(String, String)]) async throws -> PricingRatesResponse {
        try await send(.GET, "/v1/pricing" + Self.queryString(items))
    }

    /// `GET /v1/pricing/versions`.
    public func priceVersions() async throws -> PriceVersionList {
        try await send(.GET, "/v1/pricing/versions")
    }

    /// `POST /v1/pricing/versions`: `catalog` is a catalog file's bytes.
    public func importPrices(_ catalog: Data, origin: String, effectiveAt: String?) async throws -> PriceImportResponse {
        var items = [("origin", origin)]
        if let effectiveAt { items.append(("effectiveAt", effectiveAt)) }
        return try await send(.POST, "/v1/pricing/versions" + Self.queryString(items), body: catalog)
    }

    /// `POST /v1/pricing/reprice`.
    public func reprice(_ request: RepriceRequest) async throws -> RepriceResponse {
        try await send(.POST, "/v1/pricing/reprice", body: try Self.encode(request))
    }
}
