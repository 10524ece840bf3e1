import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

enum AuditChecks {
    static func draft(_ n: Int, action: AuditAction = .hubConfig, actor: AuditActor = .hub) -> AuditDraft {
        AuditDraft(timeMillis: Fixture.t0 + Int64(n) * 1000, actor: actor, action: action, subject: "s\(n)", details: ["n": .int(Int64(n))])
    }

    static func expectLog(_ store: any HubStore, actions: [AuditAction], _ what: String) async throws {
        let entries = try await store.auditEntries(matching: AuditQuery())
        try expectEqual(entries.map(\.action), actions, "\(what): the audit log's actions")
        try expectEqual(entries.map(\.index), (0..<UInt64(actions.count)).map { $0 }, "\(what): the audit log's indexes")
        try expectEqual(try await store.auditSize(), UInt64(actions.count), "\(what): auditSize()")
    }

    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("audit: appended entries get consecutive indexes and keep their exact bytes") { store in
            try expectEqual(try await store.auditSize(), 0, "auditSize() of an empty log")
            let first = try await store.appendAudit([draft(0), draft(1)])
            let second = try await store.appendAudit([draft(2, action: .tokenRevoke, actor: .token("t9"))])
            try expectEqual((first + second).map(\.index), [0, 1, 2], "indexes of three appended entries")
            try expectEqual(second[0], draft(2, action: .tokenRevoke, actor: .token("t9")).entry(index: 2), "the third entry")
            let stored = try await store.auditEntries(matching: AuditQuery())
            try expectEqual(stored, first + second, "auditEntries() of the whole log")
            try expectEqual(stored.map(\.bytes), (first + second).map(\.bytes), "the stored entries' bytes")
            try expectEqual(try await store.auditLeafHashes(from: 1, limit: 10), [first[1].leafHash, second[0].leafHash], "leaf hashes from 1")
            try expectEqual(try await store.auditLeafHashes(from: 3, limit: 10), [], "leaf hashes past the end")
        },
        StoreConformanceCheck("audit: entries filter by index, action, actor and time") { store in
            _ = try await store.appendAudit((0..<10).map { draft($0, action: $0 % 2 == 0 ? .clusterRegister : .tokenCreate, actor: $0 < 5 ? .hub : .token("t1")) })
            let q = { (q: AuditQuery) in try await store.auditEntries(matching: q).map(\.index) }
            try expectEqual(try await q(AuditQuery(fromIndex: 7)), [7, 8, 9], "from index 7")
            try expectEqual(try await q(AuditQuery(limit: 2)), [0, 1], "limit 2")
            try expectEqual(try await q(AuditQuery(action: "token.create")), [1, 3, 5, 7, 9], "action token.create")
            try expectEqual(try await q(AuditQuery(actor: "token:t1")), [5, 6, 7, 8, 9], "actor token:t1")
            try expectEqual(try await q(AuditQuery(sinceMillis: Fixture.t0 + 2000, untilMillis: Fixture.t0 + 4000)), [2, 3], "time [2 s, 4 s)")
            try expectEqual(try await q(AuditQuery(fromIndex: 4, action: "cluster.register", actor: "hub")), [4], "combined")
        },
        StoreConformanceCheck("audit: an action's entry is appended with it, and a refused action appends nothing") { store in
            try await store.createCluster(Fixture.cluster("prod"), certificate: Fixture.certificate("01", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            try await expectStoreError(.conflict, mentioning: "prod", "registering prod twice") {
                try await store.createCluster(Fixture.cluster("prod"), certificate: Fixture.certificate("02", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            }
            try await store.rotateCertificate(Fixture.certificate("03", cluster: "prod"), atMillis: Fixture.t0 + 1, audit: Fixture.audit(.certificateRotate))
            try await expectStoreError(.notFound, mentioning: "ghost", "removing an unknown cluster") {
                try await store.removeCluster(named: "ghost", atMillis: Fixture.t0 + 2, audit: Fixture.audit(.clusterRemove))
            }
            try await store.removeCluster(named: "prod", atMillis: Fixture.t0 + 3, audit: Fixture.audit(.clusterRemove) + Fixture.audit(.certificateRevoke))
            try await expectLog(store, actions: [.clusterRegister, .certificateRotate, .clusterRemove, .certificateRevoke], "after register, refused register, rotate, refused remove, remove")
        },
        StoreConformanceCheck("audit: tokens are listed and revoked with their entries") { store in
            let a = TokenRecord(id: "t1", name: "ops", role: .admin, secretHashHex: String(repeating: "a", count: 64), createdAtMillis: Fixture.t0)
            let b = TokenRecord(id: "t2", name: "grafana", role: .viewer, secretHashHex: String(repeating: "b", count: 64), createdAtMillis: Fixture.t0 + 1)
            try await store.createToken(a, audit: Fixture.audit(.tokenCreate))
            try await store.createToken(b, audit: Fixture.audit(.tokenCreate))
            try await store.revokeToken(id: "t1", atMillis: Fixture.t0 + 5, audit: Fixture.audit(.tokenRevoke))
            try await expectStoreError(.notFound, mentioning: "t1", "revoking a revoked token") {
                try await store.revokeToken(id: "t1", atMillis: Fixture.t0 + 6, audit: Fixture.audit(.tokenRevoke))
            }
            var revoked = a
            revoked.revokedAtMillis = Fixture.t0 + 5
            try expectEqual(try await store.listTokens(), [revoked, b], "listTokens()")
            try expectEqual(try await store.token(secretHashHex: a.secretHashHex), nil, "a revoked token's lookup")
            try await expectLog(store, actions: [.tokenCreate, .tokenCreate, .tokenRevoke], "after two creations and a revocation")
        },
        StoreConformanceCheck("audit: a batch's entry is appended with it, and not for a duplicate") { store in
            var record = Fixture.record(cluster: "prod", agent: "a1", sequence: 1, node: "n1", receivedAt: Fixture.t0, rows: [])
            record.droppedTicks = 5
            record.audit = draft(0, action: .agentGap, actor: .cluster("prod"))
            try expectEqual(try await store.ingest([record, record]), [.committed, .duplicate], "a gap batch and its duplicate")
            try expectEqual(try await store.ingest(record), .duplicate, "the gap batch re-sent")
            try await expectLog(store, actions: [.agentGap], "after a gap batch sent three times")
        },
        StoreConformanceCheck("audit: checkpoints are stored once per size and listed by size") { store in
            let c = { (size: UInt64) in CheckpointRecord(size: size, note: "origin\n\(size)\nroot\n\n— k sig\n", createdAtMillis: Fixture.t0 + Int64(size)) }
            try expectEqual(try await store.latestCheckpoint(), nil, "latestCheckpoint() of an empty log")
            for size: UInt64 in [3, 1, 7] { try await store.addCheckpoint(c(size)) }
            try await expectStoreError(.conflict, mentioning: "3", "a second checkpoint of size 3") {
                try await store.addCheckpoint(CheckpointRecord(size: 3, note: "other", createdAtMillis: 0))
            }
            try expectEqual(try await store.latestCheckpoint(), c(7), "latestCheckpoint()")
            try expectEqual(try await store.checkpoints(fromSize: 2, limit: 10), [c(3), c(7)], "checkpoints from size 2")
            try expectEqual(try await store.checkpoints(fromSize: 0, limit: 1), [c(1)], "the first checkpoint")
        },
    ]
}
