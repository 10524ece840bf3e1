import Hummingbird
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPricing
import KubeHeroStore
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `/v1/pricing`: the rates in force, price versions, imports and explicit re-pricing.
struct PricingRoutes: Sendable {
    let hub: HubServices

    static let ratesKeys: Set<String> = ["cloud", "region", "type", "spot", "cluster", "node", "at"]

    func register(on group: RouterGroup<HubRequestContext>) {
        group.get { request, _ in try json(try await rates(try queryDictionary(request))) }
        group.get("versions") { _, _ in
            try json(PriceVersionList(versions: try await hub.store.priceVersions().map(Self.info)))
        }
        group.post("versions") { request, context in
            try context.requireAdmin()
            return try json(try await importVersion(request, context), status: .created)
        }
        group.post("reprice") { request, context in
            try context.requireAdmin()
            return try json(try await reprice(try await decodeBody(RepriceRequest.self, request, context), actor: context.auditActor))
        }
    }

    private func pricing() throws -> HubPricing {
        guard let pricing = hub.pricing else { throw APIError(.serviceUnavailable, code: "no_pricing", "this hub has no pricing configured") }
        return pricing
    }

    static func info(_ v: PriceVersionRecord) -> PriceVersionInfo {
        PriceVersionInfo(
            id: v.id, effectiveAt: Timestamp.rfc3339(millis: v.effectiveAtMillis), importedAt: Timestamp.rfc3339(millis: v.importedAtMillis),
            origin: v.origin, changes: v.changes
        )
    }

    /// `?cloud=&region=&type=[&spot=true]` for an instance type, or `?cluster=&node=` for a node
    /// as its agent last reported it; `at` (RFC 3339) picks the version in force then.
    func rates(_ query: [String: String]) async throws -> PricingRatesResponse {
        if let unknown = query.keys.sorted().first(where: { !Self.ratesKeys.contains($0) }) {
            throw ValidationError(field: unknown, "unknown query parameter; expected one of \(Self.ratesKeys.sorted().joined(separator: ", "))")
        }
        var at = hub.now()
        if let text = query["at"] {
            guard let t = Timestamp.parseRFC3339(text) else { throw ValidationError(field: "at", "\"\(text)\" is not an RFC 3339 time") }
            at = t
        }
        let cloud: Cloud
        let region: String
        let node: NodeInfo
        if let nodeName = query["node"] {
            guard let clusterName = query["cluster"] else { throw ValidationError(field: "cluster", "required with node") }
            for key in ["cloud", "region", "type", "spot"] where query[key] != nil {
                throw ValidationError(field: key, "not allowed with node: the node's own attributes are used")
            }
            guard let cluster = try await hub.store.cluster(named: clusterName) else {
                throw APIError.notFound("cluster \"\(clusterName)\" is not registered")
            }
            guard let minute = try await hub.store.latestNodeMinute(cluster: clusterName, node: nodeName) else {
                throw APIError.notFound("node \"\(nodeName)\" of cluster \"\(clusterName)\" has sent no usage yet")
            }
            (cloud, region, node) = (cluster.cloud, cluster.region, minute.node)
        } else {
            guard let cloudText = query["cloud"] else { throw ValidationError(field: "cloud", "required (or cluster and node)") }
            guard let c = Cloud(rawValue: cloudText) else {
                throw ValidationError(field: "cloud", "\"\(cloudText)\" is not one of \(Cloud.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let r = query["region"], !r.isEmpty else { throw ValidationError(field: "region", "required") }
            guard let type = query["type"], !type.isEmpty else { throw ValidationError(field: "type", "required: the instance type, e.g. m5.xlarge") }
            let spot: Bool
            switch query["spot"] ?? "false" {
            case "true": spot = true
            case "false": spot = false
            case let other: throw ValidationError(field: "spot", "\"\(other)\" is not true or false")
            }
            (cloud, region) = (c, r)
            node = NodeInfo(name: "", instanceType: type, region: r, capacityType: spot ? .spot : .onDemand)
        }
        let rates = try pricing().book(at: at).rates(cloud: cloud, region: region, node: node)
        var egress = [String: String]()
        for (i, cls) in NetworkClass.allCases.enumerated() { egress[cls.rawValue] = rates.egressPerGiB[i].decimalString }
        return PricingRatesResponse(
            priceVersion: rates.priceVersion, at: Timestamp.rfc3339(millis: at), cloud: cloud.rawValue, region: node.region.isEmpty ? region : node.region,
            instanceType: node.instanceType, capacityType: node.capacityType.rawValue, node: node.name.isEmpty ? nil : node.name,
            source: rates.source.tag, sourceDetail: rates.source.description, nodeHourlyUSD: rates.nodeHourly?.decimalString,
            cpuCoreHourUSD: rates.cpuCoreHour.decimalString, ramGiBHourUSD: rates.ramGiBHour.decimalString, gpuHourUSD: rates.gpuHour.decimalString,
            capacity: .init(
                cpuCores: Double(rates.capacity.cpuMillicores) / 1000, memoryGiB: Double(rates.capacity.memoryBytes) / 1_073_741_824,
                gpus: rates.capacity.gpus, gpuModel: rates.capacity.gpuModel.isEmpty ? nil : rates.capacity.gpuModel
            ),
            egressPerGiBUSD: egress, storagePerGiBMonthUSD: rates.storageGiBMonthByClass.mapValues(\.decimalString),
            defaultStorageGiBMonthUSD: rates.defaultStorageGiBMonth.decimalString, warnings: rates.warnings
        )
    }

    /// The body is a catalog file's JSON; `?origin=` names it in errors and in the version,
    /// `?effectiveAt=` (RFC 3339, default now) says from when it prices samples.
    private func importVersion(_ request: Request, _ context: HubRequestContext) async throws -> PriceImportResponse {
        let query = try queryDictionary(request)
        if let unknown = query.keys.sorted().first(where: { !["origin", "effectiveAt"].contains($0) }) {
            throw ValidationError(field: unknown, "unknown query parameter; expected origin or effectiveAt")
        }
        let now = hub.now()
        var effective = now
        if let text = query["effectiveAt"] {
            guard let t = Timestamp.parseRFC3339(text) else { throw ValidationError(field: "effectiveAt", "\"\(text)\" is not an RFC 3339 time") }
            effective = t
        }
        let origin = query["origin"] ?? "api"
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 << 20)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", "a pricing catalog may be at most 64 MiB")
        }
        let result: HubPricing.ImportResult
        do {
            let catalog = try PricingCatalog.decode(Data(buffer.readableBytesView), file: origin)
            result = try await pricing().importCatalog(catalog, origin: origin, effectiveAtMillis: effective, nowMillis: now, actor: context.auditActor)
        } catch let error as CatalogError {
            throw APIError.invalid(error.validationError)
        }
        return PriceImportResponse(imported: result.imported, version: Self.info(result.version))
    }

    private func reprice(_ body: RepriceRequest, actor: AuditActor) async throws -> RepriceResponse {
        guard let from = Timestamp.parseRFC3339(body.from) else { throw ValidationError(field: "from", "\"\(body.from)\" is not an RFC 3339 time") }
        guard let to = Timestamp.parseRFC3339(body.to) else { throw ValidationError(field: "to", "\"\(body.to)\" is not an RFC 3339 time") }
        if to <= from { throw ValidationError(field: "to", "must be after from") }
        if from % 60_000 != 0 || to % 60_000 != 0 { throw ValidationError(field: "from", "from and to must be whole minutes") }
        if from < hub.now() - hub.settings.minuteRetentionMillis {
            throw ValidationError(field: "from", "is older than the minute retention (\(DurationText.format(millis: hub.settings.minuteRetentionMillis))): only minute rows can be re-priced")
        }
        let versions = try await hub.store.priceVersions()
        let chosen: PriceVersionRecord?
        if let id = body.version {
            chosen = versions.first { $0.id == id }
            if chosen == nil { throw ValidationError(field: "version", "price version \(id) does not exist") }
        } else {
            chosen = versions.max { ($0.effectiveAtMillis, $0.id) < ($1.effectiveAtMillis, $1.id) }
        }
        guard let chosen else { throw ValidationError(field: "version", "no price version has been imported") }
        let book: CatalogPriceBook
        do {
            book = try CatalogPriceBook(catalog: PricingCatalog.decode(Data(chosen.catalogJSON.utf8), file: "price version \(chosen.id)"), priceVersion: chosen.id)
        } catch {
            throw APIError(.internalServerError, code: "store", "\(error)")
        }
        var clusters = [String: ClusterRecord]()
        for c in try await hub.store.listClusters() { clusters[c.name] = c }
        let known = clusters
        let summary = try await hub.store.reprice(
            range: TimeRange(startUnixMillis: from, endUnixMillis: to), cluster: body.cluster, priceVersion: chosen.id
        ) { minute, rows in
            // A removed cluster's rows keep their prices: its cloud and region are gone.
            guard let cluster = known[minute.cluster] else { return rows }
            return BatchPricer.reprice(minute, rows: rows, cluster: cluster, book: book)
        } audit: { [now = hub.now(), version = chosen.id] summary in
            [AuditDraft(timeMillis: now, actor: actor, action: .pricingReprice, subject: "price-version/\(version)", details: [
                "from": .string(Timestamp.rfc3339(millis: from)), "to": .string(Timestamp.rfc3339(millis: to)),
                "cluster": body.cluster.map { .string($0) } ?? .null, "nodeMinutes": .int(Int64(summary.nodeMinutes)),
                "rows": .int(Int64(summary.rows)), "totalBeforeNanoUSD": .int(summary.before.nanoUSD), "totalAfterNanoUSD": .int(summary.after.nanoUSD),
            ])]
        }
        return RepriceResponse(
            version: chosen.id, nodeMinutes: summary.nodeMinutes, rowsChanged: summary.rows,
            totalBefore: summary.before.decimalString, totalAfter: summary.after.decimalString,
            totalBeforeNanoUSD: summary.before.nanoUSD, totalAfterNanoUSD: summary.after.nanoUSD
        )
    }
}
