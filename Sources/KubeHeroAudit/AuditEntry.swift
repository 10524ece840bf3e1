import KubeHeroCore

/// Who did it: an API token (by id, never its secret), a cluster (by its certificate), or the
/// hub itself (start-up, background jobs).
public struct AuditActor: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable { case hub, token, cluster }

    public var kind: Kind
    public var id: String

    public static let hub = AuditActor(kind: .hub, id: "")
    public static func token(_ id: String) -> AuditActor { AuditActor(kind: .token, id: id) }
    public static func cluster(_ name: String) -> AuditActor { AuditActor(kind: .cluster, id: name) }

    public init(kind: Kind, id: String) {
        self.kind = kind
        self.id = id
    }

    /// `hub`, `token:ID` or `cluster:NAME`.
    public var description: String { kind == .hub ? "hub" : "\(kind.rawValue):\(id)" }

    public init?(parsing text: String) {
        if text == "hub" { self = .hub; return }
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon])), kind != .hub else { return nil }
        let id = String(text[text.index(after: colon)...])
        guard !id.isEmpty else { return nil }
        self.init(kind: kind, id: id)
    }
}

/// What happened. Names are `subject-kind.verb`.
public struct AuditAction: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let hubInit = AuditAction(rawValue: "hub.init")
    public static let hubConfig = AuditAction(rawValue: "hub.config")
    public static let logKeyCreate = AuditAction(rawValue: "audit.key.create")
    public static let logKeyRotate = AuditAction(rawValue: "audit.key.rotate")
    public static let tokenCreate = AuditAction(rawValue: "token.create")
    public static let tokenRevoke = AuditAction(rawValue: "token.revoke")
    public static let clusterRegister = AuditAction(rawValue: "cluster.register")
    public static let clusterRemove = AuditAction(rawValue: "cluster.remove")
    public static let certificateIssue = AuditAction(rawValue: "certificate.issue")
    public static let certificateRotate = AuditAction(rawValue: "certificate.rotate")
    public static let certificateRevoke = AuditAction(rawValue: "certificate.revoke")
    public static let agentGap = AuditAction(rawValue: "agent.gap")
    public static let pricingImport = AuditAction(rawValue: "pricing.import")
    public static let pricingReprice = AuditAction(rawValue: "pricing.reprice")
    public static let policyApply = AuditAction(rawValue: "policy.apply")
    public static let policyDelete = AuditAction(rawValue: "policy.delete")
    public static let policyArm = AuditAction(rawValue: "policy.arm")
    public static let policyDisarm = AuditAction(rawValue: "policy.disarm")
    public static let thresholdCrossed = AuditAction(rawValue: "policy.threshold")
    public static let enforcementStart = AuditAction(rawValue: "enforcement.start")
    public static let enforcementStop = AuditAction(rawValue: "enforcement.stop")
    /// A policy's condition changed (OK, Warning, ForecastBreach, Breached).
    public static let policyCondition = AuditAction(rawValue: "policy.condition")
    /// A policy's new budget period began; its thresholds may fire again.
    public static let policyPeriod = AuditAction(rawValue: "policy.period")
    /// A cluster's edge operator confirmed it holds an enforcement set.
    public static let enforcementAck = AuditAction(rawValue: "enforcement.ack")
}

/// An entry before the log gives it its index (inside the transaction that appends it).
public struct AuditDraft: Hashable, Sendable {
    public var timeMillis: Int64
    public var actor: AuditActor
    public var action: AuditAction
    public var subject: String
    public var details: [String: JSONValue]

    public init(timeMillis: Int64, actor: AuditActor, action: AuditAction, subject: String, details: [String: JSONValue] = [:]) {
        self.timeMillis = timeMillis
        self.actor = actor
        self.action = action
        self.subject = subject
        self.details = details
    }

    /// The entry's canonical JSON bytes at `index`: what the Merkle tree hashes.
    public func entryBytes(index: UInt64) -> [UInt8] {
        CanonicalJSON.encode(.object([
            "index": .int(Int64(index)),
            "time": .string(Timestamp.rfc3339(millis: timeMillis)),
            "actor": .string(actor.description),
            "action": .string(action.rawValue),
            "subject": .string(subject),
            "details": .object(details),
        ]))
    }

    public func entry(index: UInt64) -> AuditEntry {
        let bytes = entryBytes(index: index)
        return AuditEntry(index: index, draft: self, bytes: bytes, leafHash: Merkle.leafHash(bytes))
    }
}

/// Why bytes are not an audit entry.
public struct AuditFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// An entry as stored: its fields, its exact bytes and their leaf hash.
public struct AuditEntry: Hashable, Sendable {
    public var index: UInt64
    public var draft: AuditDraft
    /// Canonical JSON; `leafHash` = SHA-256(0x00 || bytes).
    public var bytes: [UInt8]
    public var leafHash: TreeHash

    public var timeMillis: Int64 { draft.timeMillis }
    public var actor: AuditActor { draft.actor }
    public var action: AuditAction { draft.action }
    public var subject: String { draft.subject }
    public var details: [String: JSONValue] { draft.details }

    init(index: UInt64, draft: AuditDraft, bytes: [UInt8], leafHash: TreeHash) {
        self.index = index
        self.draft = draft
        self.bytes = bytes
        self.leafHash = leafHash
    }

    /// Reads an entry from its canonical bytes (as exported or stored).
    public init(bytes: [UInt8]) throws(AuditFormatError) {
        let value: JSONValue
        do {
            value = try CanonicalJSON.parseCanonical(bytes)
        } catch {
            throw AuditFormatError("entry is not canonical JSON: \(error)")
        }
        try self.init(value: value, bytes: bytes)
    }

    /// Reads an entry from a parsed value; `bytes` must be its canonical encoding.
    public init(value: JSONValue, bytes: [UInt8]) throws(AuditFormatError) {
        guard case .object(let o) = value else { throw AuditFormatError("entry is not a JSON object") }
        let expected: Set<String> = ["index", "time", "actor", "action", "subject", "details"]
        if let extra = Set(o.keys).subtracting(expected).sorted().first { throw AuditFormatError("entry has an unknown field \"\(extra)\"") }
        guard let index = o["index"]?.intValue, index >= 0 else { throw AuditFormatError("entry field index: not a non-negative integer") }
        guard let timeText = o["time"]?.stringValue, let time = Timestamp.parseRFC3339(timeText) else {
            throw AuditFormatError("entry \(index) field time: not an RFC 3339 time")
        }
        guard let actorText = o["actor"]?.stringValue, let actor = AuditActor(parsing: actorText) else {
            throw AuditFormatError("entry \(index) field actor: not hub, token:ID or cluster:NAME")
        }
        guard let action = o["action"]?.stringValue, !action.isEmpty else { throw AuditFormatError("entry \(index) field action: missing") }
        guard let subject = o["subject"]?.stringValue else { throw AuditFormatError("entry \(index) field subject: missing") }
        guard case .object(let details)? = o["details"] else { throw AuditFormatError("entry \(index) field details: not an object") }
        self.init(
            index: UInt64(index),
            draft: AuditDraft(timeMillis: time, actor: actor, action: AuditAction(rawValue: action), subject: subject, details: details),
            bytes: bytes, leafHash: Merkle.leafHash(bytes)
        )
    }
}
