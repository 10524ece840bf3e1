import ArgumentParser
import KubeHeroCore
import KubeHeroPKI

/// `kubehero cluster ...`: register clusters and manage their certificates.
public struct ClusterCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Register clusters, list them, rotate their certificates.",
        subcommands: [Add.self, List.self, Get.self, Remove.self, RotateCert.self]
    )

    public init() {}
}

extension ClusterCommand {
    /// `kubehero cluster add`: a new key and CSR made here, signed by the hub, written as one bundle.
    public struct Add: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Register a cluster and write its agent certificate bundle.",
            discussion: """
                Makes a P-256 key and a certificate signing request on this machine, has the hub sign \
                it, and writes certificate, private key and hub CA as one PEM file (mode 0600) for \
                kubehero-agent --cert. The private key is never sent.
                """
        )

        @OptionGroup public var global: GlobalOptions

        @Option(help: "Cluster name: lowercase letters, digits and '-', at most 63 characters.")
        public var name: String

        @Option(help: ArgumentHelp("Cloud the cluster runs in: aws, gcp, azure or other.", valueName: "aws|gcp|azure|other"))
        public var cloud: String

        @Option(help: "Cloud region, e.g. us-east-1.")
        public var region: String

        @Option(name: .customLong("label"), help: ArgumentHelp("A cluster label, key=value; repeat for more.", valueName: "key=value"))
        public var labels: [String] = []

        @Option(name: .customLong("validity-days"), help: "Certificate validity in days (the hub's default when not given).")
        public var validityDays: Int?

        @Option(name: .customLong("out"), help: ArgumentHelp("Where to write the bundle (default ./NAME-cert.pem).", valueName: "file"))
        public var out: String?

        @Flag(help: "Replace the bundle file if it exists.")
        public var force = false

        public init() {}

        public func validate() throws {
            try checkFlags {
                try KubernetesNames.validateDNSLabel(name, field: "--name")
                _ = try ClusterCommand.cloud(cloud)
                if region.isEmpty { throw KubeHeroCore.ValidationError(field: "--region", "must not be empty") }
                _ = try LabelFlags.parse(labels)
                try ClusterCommand.checkValidity(validityDays)
            }
        }

        public func run() async throws {
            let config = try global.resolve()
            let path = out ?? BundleFile.defaultPath(cluster: name)
            try BundleFile.checkWritable(path, force: force)
            let (keyPEM, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: name)
            let request = CreateClusterRequest(
                name: name, cloud: try ClusterCommand.cloud(cloud), region: region,
                labels: labels.isEmpty ? nil : try LabelFlags.parse(labels), csr: csrPEM, validityDays: validityDays
            )
            let response = try await HubClient.withClient(config) { try await $0.createCluster(request) }
            try ClusterCommand.writeBundle(response, keyPEM: keyPEM, to: path, force: force, hubURL: config.hubURL, action: "registered")
        }
    }

    /// `kubehero cluster list`.
    public struct List: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "List registered clusters.", aliases: ["ls"])

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var output: OutputOptions

        public init() {}

        public func run() async throws {
            let config = try global.resolve()
            let clusters = try await HubClient.withClient(config) { try await $0.listClusters() }
            print(try StructuredOutput.render(ClusterList(clusters: clusters), as: output.output) { Tables.clusters($0.clusters) })
        }
    }

    /// `kubehero cluster get NAME`.
    public struct Get: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Show one cluster.")

        @OptionGroup public var global: GlobalOptions
        @OptionGroup public var output: OutputOptions

        @Argument(help: "Cluster name.")
        public var name: String

        public init() {}

        public func validate() throws {
            try checkFlags { try KubernetesNames.validateDNSLabel(name, field: "NAME") }
        }

        public func run() async throws {
            let config = try global.resolve()
            let cluster = try await HubClient.withClient(config) { try await $0.getCluster(name) }
            print(try StructuredOutput.render(cluster, as: output.output, table: Tables.cluster))
        }
    }

    /// `kubehero cluster remove NAME`.
    public struct Remove: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Unregister a cluster; its agents are disconnected and its certificate no longer accepted.",
            aliases: ["rm", "delete"]
        )

        @OptionGroup public var global: GlobalOptions

        @Argument(help: "Cluster name.")
        public var name: String

        public init() {}

        public func validate() throws {
            try checkFlags { try KubernetesNames.validateDNSLabel(name, field: "NAME") }
        }

        public func run() async throws {
            let config = try global.resolve()
            let removal = try await HubClient.withClient(config) { try await $0.removeCluster(name) }
            let streams = removal.closedStreams == 1 ? "1 agent stream" : "\(removal.closedStreams) agent streams"
            print("Removed cluster \(removal.removed); closed \(streams).")
        }
    }

    /// `kubehero cluster rotate-cert NAME`: a new key and certificate; the old certificate is revoked.
    public struct RotateCert: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "rotate-cert",
            abstract: "Issue a new certificate for a cluster (new key, made here) and write a new bundle.",
            discussion: "The hub revokes the old certificate at once: agents using it are disconnected until they get the new bundle."
        )

        @OptionGroup public var global: GlobalOptions

        @Argument(help: "Cluster name.")
        public var name: String

        @Option(name: .customLong("out"), help: ArgumentHelp("Where to write the bundle (default ./NAME-cert.pem).", valueName: "file"))
        public var out: String?

        @Option(name: .customLong("validity-days"), help: "Certificate validity in days (the hub's default when not given).")
        public var validityDays: Int?

        @Flag(help: "Replace the bundle file if it exists.")
        public var force = false

        public init() {}

        public func validate() throws {
            try checkFlags {
                try KubernetesNames.validateDNSLabel(name, field: "NAME")
                try ClusterCommand.checkValidity(validityDays)
            }
        }

        public func run() async throws {
            let config = try global.resolve()
            let path = out ?? BundleFile.defaultPath(cluster: name)
            try BundleFile.checkWritable(path, force: force)
            let (keyPEM, csrPEM) = try CSRMaker.makeKeyAndCSR(clusterName: name)
            let request = RotateCertificateRequest(csr: csrPEM, validityDays: validityDays)
            let response = try await HubClient.withClient(config) { try await $0.rotateCertificate(name, request) }
            try ClusterCommand.writeBundle(response, keyPEM: keyPEM, to: path, force: force, hubURL: config.hubURL, action: "issued a new certificate for")
        }
    }
}

extension ClusterCommand {
    static func cloud(_ text: String) throws(KubeHeroCore.ValidationError) -> Cloud {
        guard let cloud = Cloud(rawValue: text) else {
            throw KubeHeroCore.ValidationError(field: "--cloud", "\"\(text)\" is not one of \(Cloud.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return cloud
    }

    static func checkValidity(_ days: Int?) throws(KubeHeroCore.ValidationError) {
        if let days, days < 1 { throw KubeHeroCore.ValidationError(field: "--validity-days", "must be at least 1, got \(days)") }
    }

    /// Pairs the hub's certificate with the key made here, writes the bundle, and says how to use it.
    static func writeBundle(
        _ response: ClusterCertificateResponse, keyPEM: String, to path: String, force: Bool, hubURL: String, action: String
    ) throws {
        let name = response.cluster.name
        let recover = "run `kubehero cluster rotate-cert \(name) --out FILE` for a new certificate and key"
        do {
            let bundle = try ClusterBundle(certificatePEM: response.certificate, privateKeyPEM: keyPEM, caCertificatePEM: response.caCertificate)
            try BundleFile.write(bundle, to: path, force: force)
        } catch {
            throw CLIError("the hub \(action) cluster \(name), but the bundle was not written (\(ErrorLine.reason(error))); \(recover)")
        }
        let c = response.cluster
        print("""
            Cluster \(name) (\(c.cloud.rawValue), \(c.region)): certificate \(c.certificateSerial) valid until \(c.certificateNotAfter).
            Wrote \(path): certificate, private key and hub CA (mode 0600). The key exists only in this file; keep it secret.
            Run the agent on each node of the cluster with:
              kubehero-agent run --hub \(ingestAddress(hubURL: hubURL)) --cert \(path)
            (9443 is the hub's default agent port; use the one kubehero-hub serve listens on for agents.)
            """)
    }

    /// `HOST:9443` from `https://HOST:8443/...`.
    static func ingestAddress(hubURL: String) -> String {
        var rest = Substring(hubURL)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return "\(rest[...close]):9443"
        }
        if let colon = rest.firstIndex(of: ":") { rest = rest[..<colon] }
        return "\(rest):9443"
    }
}
