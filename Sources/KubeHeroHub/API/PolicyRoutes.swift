import HTTPTypes
import Hummingbird
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPolicy
import KubeHeroStore
import KubeHeroWire
import NIOCore

/// `/v1/policies`: apply (create or replace), get, list, delete, status, arm and disarm.
/// Documents come as YAML or JSON (JSON is YAML) and are read by the same strict parser as
/// the CLI's, so a bad one is refused with its line and field.
struct PolicyRoutes: Sendable {
    let hub: HubServices
    let engine: PolicyEngine

    func register(on group: RouterGroup<HubRequestContext>) {
        group.post { request, context in try await apply(request, context, name: nil) }
        group.get { _, _ in
            let records = try await hub.store.listPolicies()
            let view = try await StatusView.load(hub, engine)
            return try json(PolicyList(items: try records.map { try view.status(of: $0) }))
        }
        group.get(":name") { _, context in try json(try info(try await existing(context))) }
        group.put(":name") { request, context in try await apply(request, context, name: context.parameters.get("name") ?? "") }
        group.delete(":name") { _, context in
            try context.requireAdmin()
            let record = try await existing(context)
            let t = hub.now()
            var audit = [AuditDraft(timeMillis: t, actor: context.auditActor, action: .policyDelete, subject: "policy/\(record.name)", details: ["revision": .int(record.revision)])]
            let state = try await hub.store.policyStates().first { $0.name == record.name }.flatMap(PolicyEngine.decodeState)
            if state?.enforcing == true {
                audit.append(AuditDraft(timeMillis: t, actor: context.auditActor, action: .enforcementStop, subject: "policy/\(record.name)", details: ["reason": .string("policy deleted")]))
            }
            try await hub.store.deletePolicy(named: record.name, audit: audit)
            engine.requestEvaluation()
            return try json(["deleted": record.name])
        }
        group.get(":name/status") { _, context in
            let record = try await existing(context)
            return try json(try await StatusView.load(hub, engine).status(of: record))
        }
        group.post(":name/arm") { _, context in try await setArmed(true, context) }
        group.post(":name/disarm") { _, context in try await setArmed(false, context) }
    }

    private func existing(_ context: HubRequestContext) async throws -> PolicyRecord {
        let name = context.parameters.get("name") ?? ""
        guard let record = try await hub.store.policy(named: name) else { throw APIError.notFound("policy \"\(name)\" not found") }
        return record
    }

    private func info(_ record: PolicyRecord) throws -> PolicyInfo {
        PolicyInfo(
            policy: try engine.policy(of: record), armed: record.armed, revision: record.revision,
            createdAt: Timestamp.rfc3339(millis: record.createdAtMillis), updatedAt: Timestamp.rfc3339(millis: record.updatedAtMillis)
        )
    }

    private func apply(_ request: Request, _ context: HubRequestContext, name: String?) async throws -> Response {
        try context.requireAdmin()
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", "request body is larger than \(context.maxUploadSize) bytes")
        }
        let policy: BudgetPolicy
        do throws(PolicyDocumentError) {
            policy = try BudgetPolicyParser.parse(yaml: String(buffer: buffer), source: "request body")
        } catch {
            throw APIError(.badRequest, code: "invalid", error.description, field: error.field.isEmpty ? "body" : error.field)
        }
        if let name, name != policy.name {
            throw APIError(.badRequest, code: "invalid", "metadata.name: is \"\(policy.name)\" but the URL names \"\(name)\"", field: "metadata.name")
        }
        let document = policy.canonicalJSON()
        let existing = try await hub.store.policy(named: policy.name)
        if let existing, existing.documentJSON == document {
            return try json(PolicyApplyResponse(result: .unchanged, policy: try info(existing)))
        }
        let t = hub.now()
        let record = PolicyRecord(
            name: policy.name, documentJSON: document, armed: existing?.armed ?? false, revision: (existing?.revision ?? 0) + 1,
            createdAtMillis: existing?.createdAtMillis ?? t, updatedAtMillis: t
        )
        let result: ApplyResult = existing == nil ? .created : .changed
        try await hub.store.putPolicy(record, audit: [AuditDraft(
            timeMillis: t, actor: context.auditActor, action: .policyApply, subject: "policy/\(policy.name)",
            details: ["result": .string(result.rawValue), "revision": .int(record.revision), "ceiling": .string(policy.spec.ceiling.description),
                      "hardStop": .bool(policy.spec.hardStop), "document": .string(document)]
        )])
        engine.requestEvaluation()
        return try json(PolicyApplyResponse(result: result, policy: try info(record)), status: existing == nil ? .created : .ok)
    }

    private func setArmed(_ armed: Bool, _ context: HubRequestContext) async throws -> Response {
        try context.requireAdmin()
        var record = try await existing(context)
        if record.armed != armed {
            record.armed = armed
            record.updatedAtMillis = hub.now()
            try await hub.store.putPolicy(record, audit: [AuditDraft(
                timeMillis: record.updatedAtMillis, actor: context.auditActor, action: armed ? .policyArm : .policyDisarm,
                subject: "policy/\(record.name)", details: ["revision": .int(record.revision)]
            )])
            engine.requestEvaluation()
        }
        return try json(try info(record))
    }
}

/// The pod admission webhook for single-cluster installs, where no edge operator runs: the
/// cluster's API server calls `POST /admission/{cluster}/validate/pods` on the hub with
/// AdmissionReview v1 and gets the same decision an edge operator would give (from the hub's
/// current enforcement set for that cluster). No bearer token: API servers do not send one;
/// the answer tells only whether a pod may be created.
struct AdmissionRoutes: Sendable {
    let engine: PolicyEngine

    func register(on group: RouterGroup<HubRequestContext>) {
        group.post(":cluster/validate/pods") { request, context in
            let cluster = context.parameters.get("cluster") ?? ""
            let body = try await request.body.collect(upTo: 3 << 20)
            let decision: AdmissionReview.Decision
            do throws(ValidationError) {
                decision = try AdmissionReview.decide(Array(buffer: body), set: engine.enforcement.current(cluster: cluster))
            } catch {
                throw APIError.invalid(error)
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: AdmissionReview.response(decision))))
        }
    }
}

/// What `status` answers need besides the policy: states, clusters, acknowledgements.
struct StatusView {
    let engine: PolicyEngine
    let states: [String: PolicyState]
    let clusters: [ClusterRecord]
    let acks: [String: EnforcementAckRecord]

    static func load(_ hub: HubServices, _ engine: PolicyEngine) async throws -> StatusView {
        var states: [String: PolicyState] = [:]
        for s in try await hub.store.policyStates() { states[s.name] = PolicyEngine.decodeState(s) }
        let acks = Dictionary(try await hub.store.enforcementAcks().map { ($0.cluster, $0) }, uniquingKeysWith: { a, _ in a })
        return StatusView(engine: engine, states: states, clusters: try await hub.store.listClusters(), acks: acks)
    }

    func status(of record: PolicyRecord) throws -> PolicyStatus {
        let policy = try engine.policy(of: record)
        let state = states[record.name]
        let matching = clusters.filter { policy.spec.scope.clusterSelector.matches($0.labels) }
        let clusterStatus = matching.map { c -> PolicyStatus.Cluster in
            let wanted = engine.enforcement.current(cluster: c.name)
            let ack = acks[c.name]
            return PolicyStatus.Cluster(
                name: c.name, acknowledged: ack?.directiveID == wanted.id, directive: ack?.directiveID,
                acknowledgedAt: ack.map { Timestamp.rfc3339(millis: $0.ackedAtMillis) }
            )
        }
        func pct(_ r: Double) -> Double { (r * 10_000).rounded() / 100 }
        return PolicyStatus(
            name: record.name, ceiling: policy.spec.ceiling.description, period: policy.spec.period.rawValue, hardStop: policy.spec.hardStop,
            humanArm: policy.spec.humanArm, armed: record.armed, state: state?.condition.rawValue ?? "Pending",
            spent: (state?.spent ?? .zero).decimalString, forecast: (state?.forecast ?? .zero).decimalString,
            percentOfCeiling: pct(state?.spendRatio ?? 0), forecastPercentOfCeiling: pct(state?.forecastRatio ?? 0),
            periodStart: state.map { Timestamp.rfc3339(millis: $0.periodStartMillis) }, periodEnd: state.map { Timestamp.rfc3339(millis: $0.periodEndMillis) },
            lastEvaluation: state.map { Timestamp.rfc3339(millis: $0.evaluatedAtMillis) }, firedThresholds: state?.fired ?? [],
            enforcing: state?.enforcing ?? false, enforcingSince: state?.enforcingSinceMillis.map { Timestamp.rfc3339(millis: $0) },
            clusters: clusterStatus
        )
    }
}

/// Budget gauges for `/metrics`, from the stored states (so they survive a restart).
func policyMetrics(_ hub: HubServices, _ engine: PolicyEngine) async throws -> String {
    let view = try await StatusView.load(hub, engine)
    var lines: [String] = []
    func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, String)]) {
        lines.append("# HELP \(name) \(help)")
        lines.append("# TYPE \(name) \(type)")
        for (labels, value) in samples { lines.append("\(name)\(labels) \(value)") }
    }
    let states = view.states.sorted { $0.key < $1.key }
    func label(_ name: String) -> String { "{policy=\"\(name)\"}" }
    metric("kubehero_budget_spend_ratio", "gauge", "Spend in the current period as a fraction of the ceiling.", states.map { (label($0.key), String($0.value.spendRatio)) })
    metric("kubehero_budget_forecast_ratio", "gauge", "Forecast spend at the period's end as a fraction of the ceiling.", states.map { (label($0.key), String($0.value.forecastRatio)) })
    metric("kubehero_budget_spend_usd", "gauge", "Spend in the current period, US dollars.", states.map { (label($0.key), $0.value.spent.decimalString) })
    metric("kubehero_budget_ceiling_usd", "gauge", "The policy's ceiling for its period, US dollars.", states.map { (label($0.key), $0.value.ceiling.decimalString) })
    metric("kubehero_budget_state", "gauge", "1 for the policy's current state.", states.flatMap { name, s in
        PolicyCondition.allCases.map { ("{policy=\"\(name)\",state=\"\($0.rawValue)\"}", $0 == s.condition ? "1" : "0") }
    })
    metric("kubehero_budget_thresholds_fired", "gauge", "Thresholds fired in the current period.", states.map { (label($0.key), "\($0.value.fired.count)") })
    metric("kubehero_budget_enforcing", "gauge", "1 while the policy's hard stop denies new pods.", states.map { (label($0.key), $0.value.enforcing ? "1" : "0") })
    lines += engine.durationHistogram.render("kubehero_policy_evaluation_duration_seconds", help: "Duration of evaluation passes over every policy.")
    if let pass = engine.lastPass {
        metric("kubehero_policy_evaluation_timestamp_seconds", "gauge", "When the last evaluation pass ran.", [("", String(Double(pass.atMillis) / 1000))])
    }
    if let alerts = engine.alerter?.delivered {
        metric("kubehero_budget_alerts_total", "counter", "Policy alert webhooks, by result.", [
            ("{result=\"delivered\"}", "\(alerts.delivered)"), ("{result=\"failed\"}", "\(alerts.failed)"),
        ])
    }
    return lines.joined(separator: "\n") + "\n"
}
