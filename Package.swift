// swift-tools-version:6.3;(experimentalCGen)
// (6.3 with experimentalCGen: the BPF skeleton plugin generates C headers for CKubeHeroBPF.)
// KubeHero: cost telemetry control plane for Kubernetes fleets.
// Layout and layering: ../shared/DESIGN.md and README.md. Libraries stack downward
// (KubeHeroCore at the bottom); executables are thin wrappers so all logic is testable.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nio = "swift-nio"

let package = Package(
    name: "kubehero",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kubehero", targets: ["kubehero"]),
        .executable(name: "kubehero-hub", targets: ["kubehero-hub"]),
        .executable(name: "kubehero-agent", targets: ["kubehero-agent"]),
        .executable(name: "kubehero-bench", targets: ["kubehero-bench"]),
        .library(name: "KubeHeroCore", targets: ["KubeHeroCore"]),
        .library(name: "KubeHeroWire", targets: ["KubeHeroWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        // No default traits: `FullFoundation` would link all of Foundation (and ICU) into the
        // agent for a DateFormatter option we never use; `ConfigurationSupport` adds
        // swift-configuration for nothing.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: Libraries, bottom up

        .target(
            name: "KubeHeroCore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroWire",
            dependencies: [
                "KubeHeroCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            exclude: ["kubehero_wire.proto"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroPricing",
            dependencies: ["KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        // BudgetPolicy documents: parse (strict YAML), schema, periods, forecast, evaluation.
        .target(
            name: "KubeHeroPolicy",
            dependencies: [
                "KubeHeroCore",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroPKI",
            dependencies: [
                "KubeHeroCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroAudit",
            dependencies: [
                "KubeHeroCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // S3-compatible object storage: SigV4 signing and the few operations `audit forward --s3` needs.
        .target(
            name: "KubeHeroS3",
            dependencies: [
                "KubeHeroCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOHTTP1", package: nio),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroStore",
            dependencies: ["KubeHeroCore", "KubeHeroAudit"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroStoreConformance",
            dependencies: ["KubeHeroStore", "KubeHeroAudit", "KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        // System SQLite (Debian's libsqlite3-dev, installed by scripts/setup.sh). We drive
        // the C API ourselves so that a whole ingest transaction is one thread-pool hop.
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "KubeHeroStoreSQLite",
            dependencies: [
                "KubeHeroStore",
                "KubeHeroAudit",
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
            ],
            swiftSettings: swiftSettings
        ),
        // Production backend: several hub replicas on one PostgreSQL (docs/postgres.md).
        .target(
            name: "KubeHeroStorePostgres",
            dependencies: [
                "KubeHeroStore",
                "KubeHeroAudit",
                "KubeHeroCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroIngestClient",
            dependencies: [
                "KubeHeroCore",
                "KubeHeroWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroHub",
            dependencies: [
                "KubeHeroCore",
                "KubeHeroWire",
                "KubeHeroPricing",
                "KubeHeroPKI",
                "KubeHeroAudit",
                "KubeHeroStore",
                "KubeHeroStoreSQLite",
                "KubeHeroStorePostgres",
                "KubeHeroPolicy",
                .product(name: "Crypto", package: "swift-crypto"),
                // Fetches a pricing catalog from a URL (`--pricing-source https://...`).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeHeroCLI",
            dependencies: [
                "KubeHeroCore",
                // Checks a catalog before `kubehero pricing import` sends it (no I/O of its own).
                "KubeHeroPricing",
                // Checks BudgetPolicy documents before `kubehero policy apply` sends them.
                "KubeHeroPolicy",
                "KubeHeroPKI",
                "KubeHeroAudit",
                "KubeHeroS3",
                // For `kubehero demo` (cgroup mounts); no database driver comes with it.
                "KubeHeroAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),

        // eBPF: the agent's BPF programs (agent/bpf) are built into libbpf skeletons by the
        // plugin during the build; the target is the loader glue over system libbpf
        // (Debian: libbpf-dev libelf-dev bpftool, installed by scripts/setup.sh).
        .plugin(name: "KubeHeroBPFSkeletons", capability: .buildTool()),
        .target(
            name: "CKubeHeroBPF",
            exclude: ["glue"],
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")],
            plugins: ["KubeHeroBPFSkeletons"]
        ),

        .target(
            name: "KubeHeroAgent",
            dependencies: [
                "CKubeHeroBPF",
                "KubeHeroCore",
                "KubeHeroWire",
                "KubeHeroIngestClient",
                "KubeHeroPKI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables (thin)

        .executableTarget(
            name: "kubehero",
            dependencies: ["KubeHeroCLI"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kubehero-agent",
            dependencies: [
                "KubeHeroAgent",
                "KubeHeroCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings,
            // The agent runs on every node: link the Swift runtime and FoundationEssentials
            // into it, so that only the pages it touches are resident instead of the shared
            // libraries' (about 47 -> 36 MiB peak RSS; BENCHMARKS.md). Linux only: Apple
            // platforms have no static Swift runtime.
            linkerSettings: [
                .unsafeFlags(["-static-stdlib"], .when(platforms: [.linux])),
                // What static FoundationEssentials needs; objects compiled without
                // -static-stdlib do not autolink these.
                .linkedLibrary("_FoundationCShims", .when(platforms: [.linux])),
                .linkedLibrary("_FoundationCollections", .when(platforms: [.linux])),
                .linkedLibrary("swiftSynchronization", .when(platforms: [.linux])),
            ]
        ),
        .executableTarget(
            name: "kubehero-hub",
            dependencies: [
                "KubeHeroHub",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kubehero-bench",
            dependencies: [
                "KubeHeroCore",
                "KubeHeroWire",
                "KubeHeroIngestClient",
                "KubeHeroHub",
                "KubeHeroCLI",
                "KubeHeroAgent",
                "KubeHeroPKI",
                "KubeHeroAudit",
                "KubeHeroStore",
                "KubeHeroStoreSQLite",
                "KubeHeroStorePostgres",
                "KubeHeroPolicy",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Benchmarks/kubehero-bench",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests

        .target(
            name: "KubeHeroTestSupport",
            dependencies: [
                "KubeHeroHub", "KubeHeroCLI", "KubeHeroIngestClient", "KubeHeroPKI", "KubeHeroCore", "KubeHeroStorePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/KubeHeroTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroAgentTests",
            dependencies: [
                "KubeHeroAgent", "KubeHeroCore", "KubeHeroWire", "KubeHeroIngestClient", "KubeHeroHub", "KubeHeroCLI", "KubeHeroPKI",
                "KubeHeroTestSupport", "KubeHeroPolicy", "KubeHeroStore", "KubeHeroAudit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroAuditTests",
            dependencies: ["KubeHeroAudit", "KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroS3Tests",
            dependencies: [
                "KubeHeroS3", "KubeHeroCLI", "KubeHeroAudit", "KubeHeroCore", "KubeHeroTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOHTTP1", package: nio),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroCoreTests",
            dependencies: ["KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroPolicyTests",
            dependencies: ["KubeHeroPolicy", "KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroPricingTests",
            dependencies: ["KubeHeroPricing", "KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroPKITests",
            dependencies: [
                "KubeHeroPKI", "KubeHeroCore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroStoreSQLiteTests",
            dependencies: ["KubeHeroStoreSQLite", "KubeHeroStoreConformance", "KubeHeroStore", "KubeHeroAudit", "KubeHeroCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroStorePostgresTests",
            dependencies: [
                "KubeHeroStorePostgres", "KubeHeroStoreConformance", "KubeHeroStore", "KubeHeroAudit", "KubeHeroCore", "KubeHeroTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroCLITests",
            dependencies: [
                "KubeHeroCLI", "KubeHeroCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeHeroHubTests",
            dependencies: [
                "KubeHeroHub", "KubeHeroCLI", "KubeHeroIngestClient", "KubeHeroWire", "KubeHeroPKI",
                "KubeHeroCore", "KubeHeroStore", "KubeHeroStoreSQLite", "KubeHeroStorePostgres", "KubeHeroStoreConformance", "KubeHeroPricing", "KubeHeroTestSupport",
                "KubeHeroPolicy", "KubeHeroAudit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
