import KubeHeroAudit
import KubeHeroCore
import KubeHeroStore

enum ClusterChecks {
    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("clusters: a created cluster is found by name, listed, and has its certificate") { store in
            // A label value no Kubernetes object could have: the store keeps strings as given.
            let prod = Fixture.cluster("prod", labels: ["env": "prod", "odd": "quote\" back\\slash ünïcode\n"])
            let cert = Fixture.certificate("0a1b", cluster: "prod")
            try await store.createCluster(prod, certificate: cert, audit: Fixture.audit(.clusterRegister))
            try expectEqual(try await store.cluster(named: "prod"), prod, "cluster(named: prod)")
            try expectEqual(try await store.listClusters(), [prod], "listClusters()")
            try expectEqual(try await store.certificate(serialHex: "0a1b"), cert, "certificate(serialHex: 0a1b)")
            try expectEqual(try await store.currentCertificate(cluster: "prod"), cert, "currentCertificate(cluster: prod)")
            try expectEqual(try await store.cluster(named: "staging"), nil, "cluster(named:) of an unknown name")
            try expectEqual(try await store.certificate(serialHex: "ffff"), nil, "certificate(serialHex:) of an unknown serial")
            try expectEqual(try await store.currentCertificate(cluster: "staging"), nil, "currentCertificate(cluster:) of an unknown cluster")
        },
        StoreConformanceCheck("clusters: listClusters is sorted by name") { store in
            for (i, name) in ["prod", "dev", "staging"].enumerated() {
                try await store.createCluster(Fixture.cluster(name), certificate: Fixture.certificate("0\(i)", cluster: name), audit: Fixture.audit(.clusterRegister))
            }
            try expectEqual(try await store.listClusters().map(\.name), ["dev", "prod", "staging"], "listClusters() names")
        },
        StoreConformanceCheck("clusters: registering an active name again is a conflict") { store in
            try await store.createCluster(Fixture.cluster("prod"), certificate: Fixture.certificate("01", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            try await expectStoreError(.conflict, mentioning: "cluster \"prod\" already exists", "createCluster of an active name") {
                try await store.createCluster(Fixture.cluster("prod", createdAt: Fixture.t0 + 1), certificate: Fixture.certificate("02", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            }
            try expectEqual(try await store.listClusters().map(\.createdAtMillis), [Fixture.t0], "the clusters after the conflict")
            try expectEqual(try await store.certificate(serialHex: "02"), nil, "the refused registration's certificate")
        },
        StoreConformanceCheck("clusters: a taken certificate serial is a conflict and registers nothing") { store in
            try await store.createCluster(Fixture.cluster("prod"), certificate: Fixture.certificate("01", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            try await expectStoreError(.conflict, mentioning: "01", "createCluster with a taken serial") {
                try await store.createCluster(Fixture.cluster("dev"), certificate: Fixture.certificate("01", cluster: "dev"), audit: Fixture.audit(.clusterRegister))
            }
            try expectEqual(try await store.cluster(named: "dev"), nil, "the cluster whose registration was refused")
            try expectEqual(try await store.certificate(serialHex: "01")?.clusterName, "prod", "the owner of serial 01")
        },
        StoreConformanceCheck("clusters: rotation revokes the older certificates and makes the new one current") { store in
            let first = Fixture.certificate("01", cluster: "prod")
            try await store.createCluster(Fixture.cluster("prod"), certificate: first, audit: Fixture.audit(.clusterRegister))
            let second = Fixture.certificate("02", cluster: "prod", notBefore: Fixture.t0 + 1_000)
            try await store.rotateCertificate(second, atMillis: Fixture.t0 + 2_000, audit: Fixture.audit(.certificateRotate))
            try expectEqual(try await store.certificate(serialHex: "01")?.revokedAtMillis, Fixture.t0 + 2_000, "the first certificate's revocation time")
            try expectEqual(try await store.certificate(serialHex: "02"), second, "the new certificate")
            try expectEqual(try await store.currentCertificate(cluster: "prod"), second, "the current certificate after rotation")

            let third = Fixture.certificate("03", cluster: "prod", notBefore: Fixture.t0 + 3_000)
            try await store.rotateCertificate(third, atMillis: Fixture.t0 + 4_000, audit: Fixture.audit(.certificateRotate))
            try expectEqual(try await store.certificate(serialHex: "01")?.revokedAtMillis, Fixture.t0 + 2_000, "an already revoked certificate's revocation time")
            try expectEqual(try await store.certificate(serialHex: "02")?.revokedAtMillis, Fixture.t0 + 4_000, "the second certificate's revocation time")
            try expectEqual(try await store.currentCertificate(cluster: "prod"), third, "the current certificate after two rotations")
        },
        StoreConformanceCheck("clusters: a rotation with a taken serial is a conflict and revokes nothing") { store in
            try await store.createCluster(Fixture.cluster("prod"), certificate: Fixture.certificate("01", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            try await store.createCluster(Fixture.cluster("dev"), certificate: Fixture.certificate("02", cluster: "dev"), audit: Fixture.audit(.clusterRegister))
            try await expectStoreError(.conflict, mentioning: "02", "rotateCertificate with a taken serial") {
                try await store.rotateCertificate(Fixture.certificate("02", cluster: "prod"), atMillis: Fixture.t0 + 1, audit: Fixture.audit(.certificateRotate))
            }
            try expectEqual(try await store.currentCertificate(cluster: "prod")?.serialHex, "01", "prod's current certificate after the refused rotation")
            try expectEqual(try await store.certificate(serialHex: "02")?.clusterName, "dev", "the owner of serial 02")
        },
        StoreConformanceCheck("clusters: removal revokes every certificate and frees the name") { store in
            try await store.createCluster(Fixture.cluster("prod"), certificate: Fixture.certificate("01", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            try await store.rotateCertificate(Fixture.certificate("02", cluster: "prod"), atMillis: Fixture.t0 + 1_000, audit: Fixture.audit(.certificateRotate))
            try await store.createCluster(Fixture.cluster("dev"), certificate: Fixture.certificate("03", cluster: "dev"), audit: Fixture.audit(.clusterRegister))
            try await store.removeCluster(named: "prod", atMillis: Fixture.t0 + 5_000, audit: Fixture.audit(.clusterRemove))

            try expectEqual(try await store.cluster(named: "prod"), nil, "cluster(named:) of a removed cluster")
            try expectEqual(try await store.listClusters().map(\.name), ["dev"], "listClusters() after removing prod")
            try expectEqual(try await store.certificate(serialHex: "01")?.revokedAtMillis, Fixture.t0 + 1_000, "the rotated-out certificate's revocation time")
            try expectEqual(try await store.certificate(serialHex: "02")?.revokedAtMillis, Fixture.t0 + 5_000, "the removed cluster's last certificate's revocation time")
            try expectEqual(try await store.currentCertificate(cluster: "prod"), nil, "currentCertificate of a removed cluster")
            try expectEqual(try await store.certificate(serialHex: "03")?.revokedAtMillis, nil, "another cluster's certificate")
            try await expectStoreError(.notFound, mentioning: "\"prod\"", "removing a removed cluster again") {
                try await store.removeCluster(named: "prod", atMillis: Fixture.t0 + 6_000, audit: Fixture.audit(.clusterRemove))
            }

            let again = Fixture.cluster("prod", labels: ["generation": "2"], createdAt: Fixture.t0 + 7_000)
            try await store.createCluster(again, certificate: Fixture.certificate("04", cluster: "prod"), audit: Fixture.audit(.clusterRegister))
            try expectEqual(try await store.cluster(named: "prod"), again, "the cluster registered again under a removed name")
            try expectEqual(try await store.currentCertificate(cluster: "prod")?.serialHex, "04", "the re-registered cluster's current certificate")
            try expectEqual(try await store.certificate(serialHex: "02")?.revokedAtMillis, Fixture.t0 + 5_000, "the old cluster's certificate after re-registration")
        },
        StoreConformanceCheck("clusters: removing or rotating an unknown cluster is notFound, naming it") { store in
            try await expectStoreError(.notFound, mentioning: "ghost", "removeCluster(named: ghost)") {
                try await store.removeCluster(named: "ghost", atMillis: Fixture.t0, audit: Fixture.audit(.clusterRemove))
            }
            try await expectStoreError(.notFound, mentioning: "ghost", "rotateCertificate for ghost") {
                try await store.rotateCertificate(Fixture.certificate("01", cluster: "ghost"), atMillis: Fixture.t0, audit: Fixture.audit(.certificateRotate))
            }
            try expectEqual(try await store.certificate(serialHex: "01"), nil, "the certificate of the refused rotation")
        },
    ]
}

enum TokenChecks {
    static let all: [StoreConformanceCheck] = [
        StoreConformanceCheck("tokens: a token is found by its secret hash") { store in
            let admin = TokenRecord(id: "t1", name: "ops", role: .admin, secretHashHex: String(repeating: "a", count: 64), createdAtMillis: Fixture.t0)
            let viewer = TokenRecord(id: "t2", name: "grafana", role: .viewer, secretHashHex: String(repeating: "b", count: 64), createdAtMillis: Fixture.t0 + 1)
            try await store.createToken(admin, audit: Fixture.audit(.tokenCreate))
            try await store.createToken(viewer, audit: Fixture.audit(.tokenCreate))
            try expectEqual(try await store.token(secretHashHex: admin.secretHashHex), admin, "token(secretHashHex:) of the admin token")
            try expectEqual(try await store.token(secretHashHex: viewer.secretHashHex), viewer, "token(secretHashHex:) of the viewer token")
            try expectEqual(try await store.token(secretHashHex: String(repeating: "c", count: 64)), nil, "token(secretHashHex:) of an unknown hash")
        },
        StoreConformanceCheck("tokens: a revoked token is not found") { store in
            let revoked = TokenRecord(
                id: "t1", name: "old", role: .admin, secretHashHex: String(repeating: "a", count: 64),
                createdAtMillis: Fixture.t0, revokedAtMillis: Fixture.t0 + 1
            )
            try await store.createToken(revoked, audit: Fixture.audit(.tokenCreate))
            try expectEqual(try await store.token(secretHashHex: revoked.secretHashHex), nil, "token(secretHashHex:) of a revoked token")
        },
        StoreConformanceCheck("tokens: a taken id or secret hash is a conflict") { store in
            let first = TokenRecord(id: "t1", name: "ops", role: .admin, secretHashHex: String(repeating: "a", count: 64), createdAtMillis: Fixture.t0)
            try await store.createToken(first, audit: Fixture.audit(.tokenCreate))
            try await expectStoreError(.conflict, mentioning: "t1", "createToken with a taken id") {
                try await store.createToken(TokenRecord(id: "t1", name: "x", role: .viewer, secretHashHex: String(repeating: "b", count: 64), createdAtMillis: Fixture.t0), audit: Fixture.audit(.tokenCreate))
            }
            try await expectStoreError(.conflict, mentioning: "", "createToken with a taken secret hash") {
                try await store.createToken(TokenRecord(id: "t2", name: "x", role: .viewer, secretHashHex: first.secretHashHex, createdAtMillis: Fixture.t0), audit: Fixture.audit(.tokenCreate))
            }
            try expectEqual(try await store.token(secretHashHex: first.secretHashHex), first, "the first token after two refused ones")
            try expectEqual(try await store.token(secretHashHex: String(repeating: "b", count: 64)), nil, "the token refused for its id")
        },
    ]
}
