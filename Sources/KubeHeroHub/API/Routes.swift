import HTTPTypes
import Hummingbird
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPKI
import KubeHeroStore
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the REST handlers share: the store, the CA, the open streams and the counters.
public struct HubServices: Sendable {
    public var store: any HubStore
    public var ca: CertificateAuthority
    public var audit: AuditLog
    public var registry: StreamRegistry
    public var metrics: HubMetrics
    public var settings: HubSettings
    public var now: @Sendable () -> Int64
    /// Price versions; nil in router tests that need no pricing.
    public var pricing: HubPricing?
    /// Whether this replica runs the single-writer jobs (always, with SQLite).
    public var leadership: any Leadership = AlwaysLeader()
    /// BudgetPolicy evaluation; nil in router tests that need no policies.
    public var policies: PolicyEngine?

    public init(store: any HubStore, ca: CertificateAuthority, audit: AuditLog, registry: StreamRegistry, metrics: HubMetrics, settings: HubSettings, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.ca = ca
        self.audit = audit
        self.registry = registry
        self.metrics = metrics
        self.settings = settings
        self.now = now
    }
}

/// Builds the REST API router. Tests and `kubehero-hub serve` use the same function.
/// Every route and its parameters are in `docs/openapi.yaml`; a test keeps the two in step.
public func buildRouter(_ hub: HubServices) -> Router<HubRequestContext> {
    let router = Router(context: HubRequestContext.self)
    router.add(middleware: JSONErrorMiddleware())

    router.get("/healthz") { _, _ in try json(["status": "ok"]) }
    router.get("/readyz") { _, _ in
        do {
            _ = try await hub.store.batchCount()
            return try json(["status": "ready"])
        } catch {
            throw APIError(.serviceUnavailable, code: "not_ready", "store is not reachable: \(error)")
        }
    }
    router.get("/metrics") { _, _ in
        let now = hub.now()
        var connected = [String: Int]()
        for e in hub.registry.entries { connected[e.cluster, default: 0] += 1 }
        let ages = try await hub.store.lastBatchTimes().mapValues { Double(now - $0) / 1000 }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        var text = hub.metrics.render(connectedAgents: connected, lastBatchAgeSeconds: ages) + (try await auditMetrics(hub, now: now))
            + leaderMetrics(hub.leadership)
        if let engine = hub.policies { text += try await policyMetrics(hub, engine) }
        if let pools = hub.store as? any ConnectionPoolReporting { text += poolMetrics(pools.connectionPools) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    if let engine = hub.policies { AdmissionRoutes(engine: engine).register(on: router.group("admission")) }

    let v1 = router.group("v1").add(middleware: BearerAuthMiddleware(store: hub.store))
    ClusterRoutes(hub: hub).register(on: v1.group("clusters"))
    CostRoutes(hub: hub).register(on: v1)
    TokenRoutes(hub: hub).register(on: v1.group("tokens"))
    AuditRoutes(hub: hub).register(on: v1.group("audit"))
    PricingRoutes(hub: hub).register(on: v1.group("pricing"))
    if let engine = hub.policies { PolicyRoutes(hub: hub, engine: engine).register(on: v1.group("policies")) }
    return router
}

/// Whether this replica runs the single-writer jobs (always 1 with SQLite).
func leaderMetrics(_ leadership: any Leadership) -> String {
    """
    # HELP kubehero_hub_leader 1 while this hub replica holds the leader lease and runs the single-writer jobs.
    # TYPE kubehero_hub_leader gauge
    kubehero_hub_leader{replica="\(leadership.holder)"} \(leadership.isLeader ? 1 : 0)

    """
}

/// The database pools' gauges (PostgreSQL): calls using or waiting for a connection, and the
/// pools' sizes. In flight at the size means calls are queueing for connections.
func poolMetrics(_ pools: [ConnectionPoolUsage]) -> String {
    var lines = [
        "# HELP kubehero_db_pool_requests_in_flight Store calls using or waiting for a database connection, per pool.",
        "# TYPE kubehero_db_pool_requests_in_flight gauge",
    ]
    lines += pools.map { "kubehero_db_pool_requests_in_flight{pool=\"\($0.pool)\"} \($0.inFlight)" }
    lines += [
        "# HELP kubehero_db_pool_connections_max Connections each database pool opens at most (pool_max).",
        "# TYPE kubehero_db_pool_connections_max gauge",
    ]
    lines += pools.map { "kubehero_db_pool_connections_max{pool=\"\($0.pool)\"} \($0.maximum)" }
    return lines.joined(separator: "\n") + "\n"
}

/// The audit log's gauges: size, newest checkpoint, and whether the log agrees with it.
func auditMetrics(_ hub: HubServices, now: Int64) async throws -> String {
    let size = try await hub.store.auditSize()
    let latest = try await hub.store.latestCheckpoint()
    var lines = [
        "# HELP kubehero_audit_entries Entries in the audit log.",
        "# TYPE kubehero_audit_entries gauge",
        "kubehero_audit_entries \(size)",
        "# HELP kubehero_audit_checkpoint_size Tree size of the newest signed checkpoint.",
        "# TYPE kubehero_audit_checkpoint_size gauge",
        "kubehero_audit_checkpoint_size \(latest?.size ?? 0)",
        "# HELP kubehero_audit_integrity_ok 1 while the stored entries agree with the log's checkpoints; 0 stops signing.",
        "# TYPE kubehero_audit_integrity_ok gauge",
        "kubehero_audit_integrity_ok \(hub.audit.integrityProblem == nil ? 1 : 0)",
    ]
    if let latest {
        lines += [
            "# HELP kubehero_audit_checkpoint_age_seconds Age of the newest signed checkpoint.",
            "# TYPE kubehero_audit_checkpoint_age_seconds gauge",
            "kubehero_audit_checkpoint_age_seconds \(Double(now - latest.createdAtMillis) / 1000)",
        ]
    }
    return lines.joined(separator: "\n") + "\n"
}

/// Encodes a value as a JSON response.
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let data = try encoder.encode(value)
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Decodes a JSON body, answering 400 with the field that did not fit.
func decodeBody<T: Decodable>(_ type: T.Type, _ request: Request, _ context: HubRequestContext) async throws -> T {
    let buffer: ByteBuffer
    do {
        buffer = try await request.body.collect(upTo: context.maxUploadSize)
    } catch {
        throw APIError(.contentTooLarge, code: "too_large", "request body is larger than \(context.maxUploadSize) bytes")
    }
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch let DecodingError.keyNotFound(key, ctx) {
        let field = (ctx.codingPath + [key]).map(\.stringValue).joined(separator: ".")
        throw APIError(.badRequest, code: "invalid", "\(field): required field is missing", field: field)
    } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
        let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
        throw APIError(.badRequest, code: "invalid", "\(field): \(ctx.debugDescription)", field: field)
    } catch let DecodingError.dataCorrupted(ctx) {
        let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
        let message = field.isEmpty ? "body is not valid JSON" : "\(field): \(ctx.debugDescription)"
        throw APIError(.badRequest, code: "invalid", message, field: field.isEmpty ? "body" : field)
    } catch {
        throw APIError(.badRequest, code: "invalid", "body is not valid JSON: \(error)", field: "body")
    }
}

/// Query parameters as a dictionary, refusing repeated keys.
func queryDictionary(_ request: Request) throws -> [String: String] {
    var out = [String: String]()
    for (key, value) in request.uri.queryParameters {
        let k = String(key)
        if out[k] != nil { throw APIError(.badRequest, code: "invalid", "\(k): given more than once", field: k) }
        out[k] = String(value)
    }
    return out
}

// MARK: - Clusters

struct ClusterRoutes: Sendable {
    let hub: HubServices

    func register(on group: RouterGroup<HubRequestContext>) {
        group.post { request, context in try await create(request, context) }
        group.get { _, _ in
            let clusters = try await hub.store.listClusters()
            let last = try await hub.store.lastBatchTimes()
            var infos = [ClusterInfo]()
            for c in clusters { infos.append(try await info(c, lastBatch: last[c.name])) }
            return try json(ClusterList(clusters: infos))
        }
        group.get(":name") { _, context in
            let c = try await existing(context)
            return try json(try await info(c, lastBatch: try await hub.store.lastBatchTimes()[c.name]))
        }
        group.delete(":name") { _, context in
            try context.requireAdmin()
            let c = try await existing(context)
            let now = hub.now()
            let current = try await hub.store.currentCertificate(cluster: c.name)
            var audit = [AuditDraft(timeMillis: now, actor: context.auditActor, action: .clusterRemove, subject: "cluster/\(c.name)")]
            if let current { audit.append(revoked(current, reason: "cluster removed", actor: context.auditActor, at: now)) }
            try await hub.store.removeCluster(named: c.name, atMillis: now, audit: audit)
            let closed = hub.registry.revoke(cluster: c.name, reason: "cluster \(c.name) was removed")
            return try json(["removed": c.name, "closedStreams": "\(closed)"])
        }
        group.post(":name/rotate-cert") { request, context in
            try context.requireAdmin()
            let c = try await existing(context)
            let body = try await decodeBody(RotateCertificateRequest.self, request, context)
            let old = try await hub.store.currentCertificate(cluster: c.name)
            let signed = try sign(csr: body.csr, cluster: c.name, validityDays: body.validityDays)
            let now = hub.now()
            var audit = [issued(signed, action: .certificateRotate, actor: context.auditActor, at: now)]
            if let old { audit.append(revoked(old, reason: "rotated", actor: context.auditActor, at: now)) }
            try await hub.store.rotateCertificate(signed, atMillis: now, audit: audit)
            if let old { hub.registry.revoke(serials: [old.serialHex], reason: "certificate \(old.serialHex) of cluster \(c.name) was rotated") }
            return try json(ClusterCertificateResponse(cluster: try await info(c, lastBatch: nil), certificate: signed.pem, caCertificate: hub.ca.certificatePEM))
        }
        group.get(":name/gaps") { _, context in
            let c = try await existing(context)
            let gaps = try await hub.store.gaps(cluster: c.name, limit: 1000)
            return try json(["gaps": gaps.map { g in
                GapInfo(node: g.node, agentInstanceID: g.agentInstanceID, sequence: g.sequence,
                        reportedAt: Timestamp.rfc3339(millis: g.reportedAtMillis), droppedTicks: g.droppedTicks, droppedBatches: g.droppedBatches)
            }])
        }
    }

    private func create(_ request: Request, _ context: HubRequestContext) async throws -> Response {
        try context.requireAdmin()
        let body = try await decodeBody(CreateClusterRequest.self, request, context)
        try KubernetesNames.validateDNSLabel(body.name, field: "name")
        if body.region.isEmpty || body.region.utf8.count > 63 || !body.region.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || ($0 >= 65 && $0 <= 90) || $0 == 95 }) {
            throw ValidationError(field: "region", "\"\(body.region)\" is not a region name (letters, digits, '-', '_'; 1-63 characters)")
        }
        let labels = body.labels ?? [:]
        if labels.count > 64 { throw ValidationError(field: "labels", "at most 64 labels") }
        try KubernetesNames.validateLabels(labels, field: "labels")
        if try await hub.store.cluster(named: body.name) != nil {
            throw APIError(.conflict, code: "conflict", "cluster \"\(body.name)\" already exists", field: "name")
        }
        let now = hub.now()
        let cert = try sign(csr: body.csr, cluster: body.name, validityDays: body.validityDays)
        let record = ClusterRecord(name: body.name, cloud: body.cloud, region: body.region, labels: labels, createdAtMillis: now)
        let audit = [
            AuditDraft(timeMillis: now, actor: context.auditActor, action: .clusterRegister, subject: "cluster/\(record.name)", details: [
                "cloud": .string(record.cloud.rawValue), "region": .string(record.region),
                "labels": .object(record.labels.mapValues { .string($0) }),
            ]),
            issued(cert, action: .certificateIssue, actor: context.auditActor, at: now),
        ]
        try await hub.store.createCluster(record, certificate: cert, audit: audit)
        return try json(
            ClusterCertificateResponse(cluster: try await info(record, lastBatch: nil), certificate: cert.pem, caCertificate: hub.ca.certificatePEM),
            status: .created
        )
    }

    private func issued(_ cert: CertificateRecord, action: AuditAction, actor: AuditActor, at: Int64) -> AuditDraft {
        AuditDraft(timeMillis: at, actor: actor, action: action, subject: "certificate/\(cert.serialHex)", details: [
            "cluster": .string(cert.clusterName), "serial": .string(cert.serialHex),
            "notBefore": .string(Timestamp.rfc3339(millis: cert.notBeforeMillis)), "notAfter": .string(Timestamp.rfc3339(millis: cert.notAfterMillis)),
        ])
    }

    private func revoked(_ cert: CertificateRecord, reason: String, actor: AuditActor, at: Int64) -> AuditDraft {
        AuditDraft(timeMillis: at, actor: actor, action: .certificateRevoke, subject: "certificate/\(cert.serialHex)", details: [
            "cluster": .string(cert.clusterName), "serial": .string(cert.serialHex), "reason": .string(reason),
        ])
    }

    private func sign(csr: String, cluster: String, validityDays: Int?) throws -> CertificateRecord {
        let days = validityDays ?? hub.settings.defaultCertificateValidityDays
        if csr.utf8.count > 64 * 1024 { throw ValidationError(field: "csr", "larger than 64 KiB") }
        let signed: SignedClusterCertificate
        do {
            signed = try hub.ca.signClusterCSR(csrPEM: csr, clusterName: cluster, validityDays: days, now: Date(timeIntervalSince1970: Double(hub.now()) / 1000))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError(field: "csr", "\(error)")
        }
        return CertificateRecord(
            serialHex: signed.serialHex, clusterName: cluster,
            notBeforeMillis: Int64(signed.notBefore.timeIntervalSince1970 * 1000),
            notAfterMillis: Int64(signed.notAfter.timeIntervalSince1970 * 1000), pem: signed.certificatePEM
        )
    }

    private func existing(_ context: HubRequestContext) async throws -> ClusterRecord {
        let name = context.parameters.get("name") ?? ""
        guard let c = try await hub.store.cluster(named: name) else {
            throw APIError.notFound("cluster \"\(name)\" is not registered")
        }
        return c
    }

    private func info(_ c: ClusterRecord, lastBatch: Int64?) async throws -> ClusterInfo {
        let cert = try await hub.store.currentCertificate(cluster: c.name)
        return ClusterInfo(
            name: c.name, cloud: c.cloud, region: c.region, labels: c.labels,
            createdAt: Timestamp.rfc3339(millis: c.createdAtMillis),
            certificateSerial: cert?.serialHex ?? "",
            certificateNotAfter: cert.map { Timestamp.rfc3339(millis: $0.notAfterMillis) } ?? "",
            lastBatchAt: lastBatch.map { Timestamp.rfc3339(millis: $0) }
        )
    }
}

struct GapInfo: Codable, Sendable {
    var node: String
    var agentInstanceID: String
    var sequence: UInt64
    var reportedAt: String
    var droppedTicks: UInt64
    var droppedBatches: UInt64
}

// MARK: - Costs and series

struct CostRoutes: Sendable {
    let hub: HubServices

    func register(on group: RouterGroup<HubRequestContext>) {
        group.get("costs") { request, _ in
            let p = try CostQueryParameters.parse(
                try queryDictionary(request), allowed: CostQueryParameters.costKeys, defaultAggregate: "namespace",
                nowMillis: hub.now(), minuteRetentionMillis: hub.settings.minuteRetentionMillis
            )
            var steps = [CostStepResult]()
            var resolutions = Set<String>()
            let planner = CostPlanner(store: hub.store)
            for step in p.steps {
                let (resolution, groups) = try await planner.costs(range: step, aggregation: p.aggregation, filter: p.filter, preferred: p.resolution)
                resolutions.insert(resolution)
                steps.append(CostStepResult(
                    start: Timestamp.rfc3339(millis: step.startUnixMillis), end: Timestamp.rfc3339(millis: step.endUnixMillis),
                    groups: groups.map(CostGroupResult.init)
                ))
            }
            let resolution = resolutions.count == 1 ? resolutions.first! : "hour+minute"
            return try json(CostsResponse(window: p.windowText, aggregate: p.aggregation.description, resolution: resolution, steps: steps))
        }
        group.get("series") { request, _ in
            var query = try queryDictionary(request)
            if query["step"] == nil { query["step"] = "1h" }
            let p = try CostQueryParameters.parse(
                query, allowed: CostQueryParameters.seriesKeys, defaultAggregate: nil,
                nowMillis: hub.now(), minuteRetentionMillis: hub.settings.minuteRetentionMillis
            )
            let step = p.stepMillis!
            let resolution: Resolution = step % 3_600_000 == 0 && p.resolution == .hour ? .hour : p.resolution
            let buckets = try await hub.store.series(SeriesQuery(range: p.range, stepMillis: step, filter: p.filter, resolution: resolution))
            let points = buckets.map { b in
                SeriesPointResult(
                    start: Timestamp.rfc3339(millis: b.startMillis), totalCost: b.cost.total.decimalString,
                    totalCostNanoUSD: b.cost.total.nanoUSD, cpuCost: b.cost.cpu.decimalString, ramCost: b.cost.ram.decimalString,
                    networkCost: b.cost.network.decimalString,
                    cpuCores: Double(b.usage.cpuCoreNanos) / (Double(step) * 1e6),
                    memoryBytes: Double(b.usage.memoryByteSeconds) / (Double(step) / 1000)
                )
            }
            let f = p.filter
            let name = [f.cluster.map { "cluster=\($0)" }, f.node.map { "node=\($0)" }, f.namespace.map { "namespace=\($0)" },
                        f.pod.map { "pod=\($0)" }, f.container.map { "container=\($0)" }].compactMap { $0 }.joined(separator: ",")
            return try json(SeriesResponse(
                window: p.windowText, step: DurationText.format(millis: step), resolution: resolution.rawValue,
                series: name.isEmpty ? "all" : name, points: points
            ))
        }
    }
}
