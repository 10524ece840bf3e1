import HTTPTypes
import Hummingbird
import KubeHeroAudit
import KubeHeroCore
import KubeHeroPKI
import KubeHeroStore
import NIOCore

// MARK: - Tokens

struct TokenRoutes: Sendable {
    let hub: HubServices

    func register(on group: RouterGroup<HubRequestContext>) {
        group.get { _, context in
            try context.requireAdmin()
            return try json(TokenList(tokens: try await hub.store.listTokens().map(info)))
        }
        group.post { request, context in
            try context.requireAdmin()
            let body = try await decodeBody(CreateTokenRequest.self, request, context)
            guard !body.name.isEmpty, body.name.utf8.count <= 63, body.name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.".unicodeScalars.contains($0) }) else {
                throw ValidationError(field: "name", "\"\(body.name)\" is not a token name (letters, digits, '-', '_', '.'; 1-63 characters)")
            }
            guard let role = TokenRecord.Role(rawValue: body.role) else {
                throw ValidationError(field: "role", "\"\(body.role)\" is not a role (admin or viewer)")
            }
            let (id, secret) = APIToken.generate()
            let now = hub.now()
            let token = TokenRecord(id: id, name: body.name, role: role, secretHashHex: APIToken.hash(secret), createdAtMillis: now)
            try await hub.store.createToken(token, audit: [AuditLog.tokenCreated(token, secretHash: hub.audit.keyedHash(secret), actor: context.auditActor, at: now)])
            return try json(CreatedToken(token: info(token), secret: secret), status: .created)
        }
        group.delete(":id") { _, context in
            try context.requireAdmin()
            let id = context.parameters.get("id") ?? ""
            let now = hub.now()
            try await hub.store.revokeToken(id: id, atMillis: now, audit: [
                AuditDraft(timeMillis: now, actor: context.auditActor, action: .tokenRevoke, subject: "token/\(id)"),
            ])
            return try json(["revoked": id])
        }
    }

    private func info(_ t: TokenRecord) -> TokenInfo {
        TokenInfo(id: t.id, name: t.name, role: t.role.rawValue, createdAt: Timestamp.rfc3339(millis: t.createdAtMillis), revokedAt: t.revokedAtMillis.map { Timestamp.rfc3339(millis: $0) })
    }
}

// MARK: - Audit log

struct AuditRoutes: Sendable {
    let hub: HubServices
    static let maxEntries = 10_000

    func register(on group: RouterGroup<HubRequestContext>) {
        group.get("entries") { request, _ in
            let q = try queryDictionary(request)
            try Self.allow(q, ["from", "before", "limit", "action", "actor", "since", "until", "order"])
            var query = AuditQuery(limit: 1000)
            query.fromIndex = try Self.uint(q, "from") ?? 0
            query.beforeIndex = try Self.uint(q, "before")
            if let limit = try Self.uint(q, "limit") {
                guard limit >= 1, limit <= UInt64(Self.maxEntries) else { throw ValidationError(field: "limit", "must be 1 to \(Self.maxEntries)") }
                query.limit = Int(limit)
            }
            query.action = q["action"]
            if let actor = q["actor"] {
                guard AuditActor(parsing: actor) != nil else { throw ValidationError(field: "actor", "\"\(actor)\" is not hub, token:ID or cluster:NAME") }
                query.actor = actor
            }
            query.sinceMillis = try Self.time(q, "since")
            query.untilMillis = try Self.time(q, "until")
            switch q["order"] ?? "asc" {
            case "asc": query.newestFirst = false
            case "desc": query.newestFirst = true
            case let other: throw ValidationError(field: "order", "\"\(other)\" is not asc or desc")
            }
            // The size first: an entry appended meanwhile may be in the page but not counted,
            // never counted but missing, so a client that continues from `treeSize` skips nothing.
            let size = try await hub.store.auditSize()
            let entries = try await hub.store.auditEntries(matching: query)
            // Each element is exactly an `entries.jsonl` line: the entry's bytes are embedded as
            // they were hashed.
            var body: [UInt8] = Array("{\"entries\":[".utf8)
            for (n, e) in entries.enumerated() {
                if n > 0 { body.append(UInt8(ascii: ",")) }
                body += AuditExport.line(leafHash: e.leafHash, entryBytes: e.bytes)
            }
            body += Array("],\"treeSize\":\(size)}".utf8)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        group.get("checkpoint") { _, _ in
            guard let c = try await hub.store.latestCheckpoint() else {
                throw APIError.notFound("the audit log has no checkpoint yet")
            }
            return try json(AuditCheckpointInfo(size: c.size, note: c.note))
        }
        group.get("checkpoints") { request, _ in
            let q = try queryDictionary(request)
            try Self.allow(q, ["from", "limit"])
            let limit = try Self.uint(q, "limit") ?? 1000
            guard limit >= 1, limit <= UInt64(Self.maxEntries) else { throw ValidationError(field: "limit", "must be 1 to \(Self.maxEntries)") }
            let list = try await hub.store.checkpoints(fromSize: try Self.uint(q, "from") ?? 0, limit: Int(limit))
            return try json(AuditCheckpointList(checkpoints: list.map { AuditCheckpointInfo(size: $0.size, note: $0.note) }))
        }
        group.get("proof/inclusion") { request, _ in
            let q = try queryDictionary(request)
            try Self.allow(q, ["index", "size"])
            guard let index = try Self.uint(q, "index") else { throw ValidationError(field: "index", "required") }
            guard let size = try Self.uint(q, "size") else { throw ValidationError(field: "size", "required") }
            do {
                let (leaf, hashes) = try await hub.audit.inclusionProof(index: index, size: size)
                return try json(InclusionProofResponse(index: index, treeSize: size, leafHash: leaf.hex, hashes: hashes.map(\.hex)))
            } catch let error as AuditLog.ProofError {
                throw APIError(.badRequest, code: "invalid", error.description, field: "size")
            }
        }
        group.get("proof/consistency") { request, _ in
            let q = try queryDictionary(request)
            try Self.allow(q, ["from", "to"])
            guard let from = try Self.uint(q, "from") else { throw ValidationError(field: "from", "required") }
            guard let to = try Self.uint(q, "to") else { throw ValidationError(field: "to", "required") }
            do {
                let hashes = try await hub.audit.consistencyProof(from: from, to: to)
                return try json(ConsistencyProofResponse(from: from, to: to, hashes: hashes.map(\.hex)))
            } catch let error as AuditLog.ProofError {
                throw APIError(.badRequest, code: "invalid", error.description, field: "to")
            }
        }
        group.get("keys") { _, _ in
            try json(AuditKeysResponse(origin: hub.audit.origin, keys: hub.audit.verifierKeys.map(\.description)))
        }
    }

    static func allow(_ q: [String: String], _ keys: Set<String>) throws {
        if let unknown = q.keys.sorted().first(where: { !keys.contains($0) }) {
            throw ValidationError(field: unknown, "unknown parameter; expected one of \(keys.sorted().joined(separator: ", "))")
        }
    }

    static func uint(_ q: [String: String], _ key: String) throws -> UInt64? {
        guard let text = q[key] else { return nil }
        guard let v = UInt64(text), v <= UInt64(Int64.max) else { throw ValidationError(field: key, "\"\(text)\" is not a non-negative integer") }
        return v
    }

    static func time(_ q: [String: String], _ key: String) throws -> Int64? {
        guard let text = q[key] else { return nil }
        guard let t = Timestamp.parseRFC3339(text) else { throw ValidationError(field: key, "\"\(text)\" is not an RFC 3339 time") }
        return t
    }
}
