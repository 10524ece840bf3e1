import KubeHeroAudit
import NIOHTTP1
import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension HubClient {
    // MARK: - Tokens

    /// `POST /v1/tokens`: the secret is in the answer only.
    public func createToken(name: String, role: String) async throws -> CreatedToken {
        try await send(.POST, "/v1/tokens", body: try Self.encode(CreateTokenRequest(name: name, role: role)))
    }

    public func listTokens() async throws -> [TokenInfo] {
        let list: TokenList = try await send(.GET, "/v1/tokens")
        return list.tokens
    }

    public func revokeToken(id: String) async throws {
        let _: [String: String] = try await send(.DELETE, "/v1/tokens/" + PercentEncoding.encode(id))
    }

    // MARK: - Audit log

    /// The parameters of `GET /v1/audit/entries`.
    public struct AuditEntriesQuery: Hashable, Sendable {
        public var from: UInt64?
        public var before: UInt64?
        public var limit: Int?
        public var action: String?
        public var actor: String?
        public var since: String?
        public var until: String?
        public var newestFirst = false

        public init(from: UInt64? = nil, before: UInt64? = nil, limit: Int? = nil, action: String? = nil, actor: String? = nil, since: String? = nil, until: String? = nil, newestFirst: Bool = false) {
            self.from = from
            self.before = before
            self.limit = limit
            self.action = action
            self.actor = actor
            self.since = since
            self.until = until
            self.newestFirst = newestFirst
        }

        var queryItems: [(String, String)] {
            var items: [(String, String)] = []
            if let from { items.append(("from", "\(from)")) }
            if let before { items.append(("before", "\(before)")) }
            if let limit { items.append(("limit", "\(limit)")) }
            if let action { items.append(("action", action)) }
            if let actor { items.append(("actor", actor)) }
            if let since { items.append(("since", since)) }
            if let until { items.append(("until", until)) }
            if newestFirst { items.append(("order", "desc")) }
            return items
        }
    }

    /// One page of entries, each with the leaf hash the hub recorded, and the log's size.
    public struct AuditPage: Sendable {
        public var entries: [(recordedLeafHash: TreeHash, entry: AuditEntry)]
        public var treeSize: UInt64
    }

    /// `GET /v1/audit/entries`. The entries are read back byte for byte: the hub embeds each
    /// entry's canonical JSON, and re-encoding the parsed value canonically gives the same bytes.
    public func auditEntries(_ query: AuditEntriesQuery) async throws -> AuditPage {
        let (status, data) = try await sendBytes(.GET, "/v1/audit/entries" + Self.queryString(query.queryItems))
        let bad = { (why: String) in HubError(.unexpectedResponse, status: status, "the hub's audit entries are not what this CLI understands: \(why)") }
        guard case .object(let body)? = try? CanonicalJSON.parse(data), case .array(let items)? = body["entries"],
              let size = body["treeSize"]?.intValue, size >= 0
        else { throw bad("not {\"entries\": [...], \"treeSize\": N}") }
        var entries: [(TreeHash, AuditEntry)] = []
        entries.reserveCapacity(items.count)
        for item in items {
            guard let hex = item["leafHash"]?.stringValue, let leaf = TreeHash(hex: hex), let value = item["entry"] else {
                throw bad("an element is not {\"leafHash\": \"<hex>\", \"entry\": {...}}")
            }
            do {
                entries.append((leaf, try AuditEntry(value: value, bytes: CanonicalJSON.encode(value))))
            } catch {
                throw bad("\(error)")
            }
        }
        return AuditPage(entries: entries, treeSize: UInt64(size))
    }

    public func auditCheckpoints(fromSize: UInt64, limit: Int = 1000) async throws -> [AuditCheckpointInfo] {
        let list: AuditCheckpointList = try await send(.GET, "/v1/audit/checkpoints" + Self.queryString([("from", "\(fromSize)"), ("limit", "\(limit)")]))
        return list.checkpoints
    }

    public func auditKeys() async throws -> AuditKeysResponse {
        try await send(.GET, "/v1/audit/keys")
    }

    public func auditInclusionProof(index: UInt64, size: UInt64) async throws -> InclusionProofResponse {
        try await send(.GET, "/v1/audit/proof/inclusion" + Self.queryString([("index", "\(index)"), ("size", "\(size)")]))
    }

    public func auditConsistencyProof(from: UInt64, to: UInt64) async throws -> ConsistencyProofResponse {
        try await send(.GET, "/v1/audit/proof/consistency" + Self.queryString([("from", "\(from)"), ("to", "\(to)")]))
    }

    /// Every entry, page by page, and every checkpoint (for export and verify).
    public func auditSnapshot() async throws -> (entries: [(recordedLeafHash: TreeHash, entry: AuditEntry)], checkpoints: [AuditCheckpointInfo]) {
        // Checkpoints first: every entry they cover is then in the log when the entries are read.
        let checkpoints = try await allAuditCheckpoints(fromSize: 0)
        return (try await allAuditEntries(from: 0), checkpoints)
    }

    /// Every checkpoint of size `fromSize` or more, page by page.
    public func allAuditCheckpoints(fromSize: UInt64) async throws -> [AuditCheckpointInfo] {
        var checkpoints: [AuditCheckpointInfo] = []
        var next = fromSize
        while true {
            let page = try await auditCheckpoints(fromSize: next, limit: 10_000)
            checkpoints += page
            guard page.count == 10_000, let last = page.last else { break }
            next = last.size + 1
        }
        return checkpoints
    }

    /// Every entry from index `from` on, page by page.
    public func allAuditEntries(from: UInt64) async throws -> [(recordedLeafHash: TreeHash, entry: AuditEntry)] {
        var entries: [(recordedLeafHash: TreeHash, entry: AuditEntry)] = []
        var index = from
        while true {
            let page = try await auditEntries(AuditEntriesQuery(from: index, limit: 10_000))
            entries += page.entries
            guard page.entries.count == 10_000, let last = page.entries.last else { break }
            index = last.entry.index + 1
        }
        return entries
    }
}
