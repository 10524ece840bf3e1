// kubehero-agent: thin command-line wrapper; the agent itself is KubeHeroAgent.
//
// Every option can also come from the environment (for the DaemonSet): the flag wins, then the
// variable named in its help, then the default.

import ArgumentParser
import KubeHeroAgent
import KubeHeroCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubehero-agent",
        abstract: "The KubeHero node agent: samples container cgroups and streams usage to the hub over mTLS.",
        subcommands: [Run.self, Operator.self]
    )
}

/// Flag, else environment variable, else nil.
func setting(_ flag: String?, _ variable: String) -> String? {
    if let flag { return flag }
    if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return value }
    return nil
}

extension AgentCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the agent on this node.")

        @Option(help: "Hub ingest HOST:PORT (KUBEHERO_HUB).") var hub: String?
        @Option(help: "Cluster bundle from `kubehero cluster add` (KUBEHERO_CERT).") var cert: String?
        @Option(help: "This node's name (KUBEHERO_NODE, else NODE_NAME, else the host name).") var node: String?
        @Option(help: "Kubelet base URL, e.g. https://127.0.0.1:10250 (KUBEHERO_KUBELET); without it, cgroup identity only.") var kubelet: String?
        @Option(help: "Kubelet bearer token file (KUBEHERO_KUBELET_TOKEN_FILE; default: the service account's).") var kubeletTokenFile: String?
        @Option(help: "CA to verify the kubelet with (KUBEHERO_KUBELET_CA_FILE; default: the service account's).") var kubeletCaFile: String?
        @Flag(help: "Do not verify the kubelet's certificate (self-signed serving certs).") var kubeletInsecureSkipVerify = false
        @Option(help: "Kubernetes API server URL for this node's Node object and its pods' volume claims, `in-cluster`, or `off` (KUBEHERO_KUBE_API; default: in-cluster inside a pod, else off). Uses the service account's token and CA.") var kubeApi: String?
        @Option(help: "Bearer token file for the API server (KUBEHERO_KUBE_API_TOKEN_FILE; default: the service account's).") var kubeApiTokenFile: String?
        @Option(help: "CA to verify the API server with (KUBEHERO_KUBE_API_CA_FILE; default: the service account's).") var kubeApiCaFile: String?
        @Option(help: "Batch length (KUBEHERO_FLUSH_INTERVAL, default 60s).") var flushInterval: String?
        @Option(help: "Sampling interval (KUBEHERO_TICK, default 1s).") var tick: String?
        @Option(help: "Directory for the on-disk spool (KUBEHERO_SPOOL_DIR); without it, batches are kept in memory only.") var spoolDir: String?
        @Option(help: "Spool size bound in MiB (KUBEHERO_SPOOL_MAX_MIB, default 256).") var spoolMaxMib: Int?
        @Option(help: "Unacknowledged batches kept in memory (KUBEHERO_BUFFER_BATCHES, default 60).") var bufferBatches: Int?
        @Option(help: "Bytes of unacknowledged batches kept in memory, MiB (KUBEHERO_BUFFER_MIB, default 16).") var bufferMib: Int?
        @Option(help: "Walk cgroups from this directory instead of the cgroup v2 mount (KUBEHERO_CGROUP_ROOT).") var cgroupRoot: String?
        @Option(help: "Keep containers' counter files open between ticks: on or off (KUBEHERO_CGROUP_OPEN_FILES, default on).") var cgroupOpenFiles: String?
        @Option(help: "Sample every cgroup whose path (relative to the root) matches this glob (KUBEHERO_MATCH).") var match: String?
        @Option(name: .customLong("node-label"), help: "A node label key=value (repeatable; KUBEHERO_NODE_LABELS as k=v,k=v): instance type, zone, region, capacity type.")
        var nodeLabels: [String] = []
        @Option(help: "Node CPU capacity in millicores (default: this host's CPUs).") var cpuCapacityMillicores: UInt32?
        @Option(help: "Node memory capacity in bytes (default: this host's memory).") var memoryCapacityBytes: UInt64?
        @Option(help: "HOST:PORT for /healthz and /metrics, or `off` (KUBEHERO_HEALTH_LISTEN, default 127.0.0.1:9464).") var healthListen: String?
        @Option(help: "Seconds to keep delivering pending batches on shutdown (default 10).") var drainTimeoutSeconds: Int = 10
        @Option(help: "Resident code: `trim` unmaps code at the end of each start-up phase and every 10 minutes (it is mapped again if it runs again), `keep` leaves it (KUBEHERO_RESIDENT_CODE, default trim).") var residentCode: String?
        @Option(help: "eBPF sampling: auto (where the node allows it), on (required), off (KUBEHERO_BPF, default auto).") var bpf: String?
        @Option(help: "File of network class directives (KUBEHERO_NET_CONFIG_FILE); KUBEHERO_NET_CONFIG holds directives separated by ';'. See docs/ebpf.md.")
        var netConfig: String?
        @Option(help: "The cluster's pod CIDR (repeatable).") var podCidr: [String] = []
        @Option(help: "The cluster's service CIDR (repeatable).") var serviceCidr: [String] = []
        @Option(help: "This node's pod CIDR: same-node traffic (repeatable).") var nodePodCidr: [String] = []
        @Option(help: "A zone's subnet, ZONE=CIDR (repeatable): same-zone for this node's zone, else cross-zone.") var zoneSubnet: [String] = []
        @Option(help: "Another region's subnet, REGION=CIDR (repeatable): cross-region unless REGION is this node's region.") var regionSubnet: [String] = []
        @Option(help: "A destination class for a network, CIDR=CLASS (same-node, same-zone, cross-zone, internet, cross-region; repeatable).") var netClass: [String] = []
        @Option(help: "Class of pod, service and private addresses outside every zone subnet (default same-zone).") var inClusterClass: String?
        @Option(help: "Learn the other nodes' zones, pod CIDRs and addresses from the API server for the network classes: on or off (KUBEHERO_NET_FROM_NODES, default on; needs --kube-api and eBPF).") var netFromNodes: String?
        @Option(help: "How often the nodes are listed for that (KUBEHERO_NET_FROM_NODES_INTERVAL, default 5m).") var netFromNodesInterval: String?
        @Option(help: "Log level: trace, debug, info, notice, warning, error (KUBEHERO_LOG_LEVEL).") var logLevel: String?
        @Option(help: "Log format: json or text (KUBEHERO_LOG_FORMAT, default json).") var logFormat: String?

        func run() async throws {
            let codeText = setting(residentCode, "KUBEHERO_RESIDENT_CODE") ?? "trim"
            guard let codeMode = ResidentCode.Mode(rawValue: codeText) else {
                throw ArgumentParser.ValidationError("--resident-code: must be trim or keep, not \"\(codeText)\"")
            }
            // First, before the agent's code runs: see ResidentCode.swift.
            let trim = codeMode == .trim ? ResidentCode.unmapCode() : nil
            OpenFileBudget.raiseSoftLimit()
            let level = setting(logLevel, "KUBEHERO_LOG_LEVEL") ?? "info"
            guard let logLevel = Logger.Level(rawValue: level) else {
                throw ArgumentParser.ValidationError("--log-level: \"\(level)\" is not a log level")
            }
            let format = setting(logFormat, "KUBEHERO_LOG_FORMAT") ?? "json"
            guard ["json", "text"].contains(format) else { throw ArgumentParser.ValidationError("--log-format: must be json or text") }
            LoggingSystem.bootstrap { label in
                if format == "json" { return JSONLogHandler(label: label, level: logLevel) }
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = logLevel
                return h
            }
            let logger = Logger(label: "kubehero-agent")
            switch trim {
            case .success(let r)?: logger.debug("resident code trimmed", metadata: ["binary": "\(r.binary)", "mappings": "\(r.mappings)", "bytes": "\(r.bytes)"])
            case .failure(let why)?: logger.notice("resident code not trimmed; the agent works the same with more resident memory", metadata: ["reason": "\(why)"])
            case nil: break
            }
            var options = try makeOptions()
            options.residentCode = codeMode
            let agent = try Agent.make(options: options, logger: logger)
            logger.info("agent starting", metadata: [
                "hub": "\(options.hub)", "node": "\(options.nodeName)", "agent": "\(agent.agentInstanceID)",
                "tick": "\(options.tickMillis)ms", "flush": "\(options.flushMillis)ms",
            ])
            try await agent.run(handleSignals: true)
        }

        func makeOptions() throws -> AgentOptions {
            guard let hubText = setting(hub, "KUBEHERO_HUB") else { throw ArgumentParser.ValidationError("--hub (or KUBEHERO_HUB) is required: the hub's ingest HOST:PORT") }
            guard let certPath = setting(cert, "KUBEHERO_CERT") else { throw ArgumentParser.ValidationError("--cert (or KUBEHERO_CERT) is required: the bundle from `kubehero cluster add`") }
            let nodeName = setting(node, "KUBEHERO_NODE") ?? setting(nil, "NODE_NAME") ?? ProcessInfo.processInfo.hostName
            var o = AgentOptions(hub: try HostPort(parsing: hubText, field: "--hub"), bundlePath: certPath, nodeName: nodeName)
            if let url = setting(kubelet, "KUBEHERO_KUBELET") {
                var k = KubeletClient.Configuration(baseURL: url, insecureSkipVerify: kubeletInsecureSkipVerify)
                if let t = setting(kubeletTokenFile, "KUBEHERO_KUBELET_TOKEN_FILE") { k.tokenFile = t }
                if let c = setting(kubeletCaFile, "KUBEHERO_KUBELET_CA_FILE") { k.caFile = c }
                o.kubelet = k
            }
            let environment = ProcessInfo.processInfo.environment
            switch setting(kubeApi, "KUBEHERO_KUBE_API") {
            case nil, "in-cluster":
                o.kubernetesAPI = KubernetesAPI.inClusterConfiguration(environment: environment)
                if kubeApi == "in-cluster" && o.kubernetesAPI == nil {
                    throw ArgumentParser.ValidationError("--kube-api in-cluster: KUBERNETES_SERVICE_HOST is not set (not running in a pod?)")
                }
            case "off":
                o.kubernetesAPI = nil
            case let url?:
                var k = KubeletClient.Configuration(baseURL: url)
                k.peer = "API server"
                o.kubernetesAPI = k
            }
            if o.kubernetesAPI != nil {
                if let t = setting(kubeApiTokenFile, "KUBEHERO_KUBE_API_TOKEN_FILE") { o.kubernetesAPI?.tokenFile = t }
                if let c = setting(kubeApiCaFile, "KUBEHERO_KUBE_API_CA_FILE") { o.kubernetesAPI?.caFile = c }
            }
            if let t = setting(tick, "KUBEHERO_TICK") { o.tickMillis = UInt32(clamping: try DurationText.parseMillis(t, field: "--tick")) }
            if let f = setting(flushInterval, "KUBEHERO_FLUSH_INTERVAL") { o.flushMillis = try DurationText.parseMillis(f, field: "--flush-interval") }
            o.spoolDir = setting(spoolDir, "KUBEHERO_SPOOL_DIR")
            if let m = try intSetting(spoolMaxMib, "KUBEHERO_SPOOL_MAX_MIB", flag: "--spool-max-mib") { o.spoolMaxBytes = m << 20 }
            if let b = try intSetting(bufferBatches, "KUBEHERO_BUFFER_BATCHES", flag: "--buffer-batches") { o.buffer.maxBatches = b }
            if let m = try intSetting(bufferMib, "KUBEHERO_BUFFER_MIB", flag: "--buffer-mib") { o.buffer.maxBytes = m << 20 }
            o.cgroup.cgroupRoot = setting(cgroupRoot, "KUBEHERO_CGROUP_ROOT")
            switch setting(cgroupOpenFiles, "KUBEHERO_CGROUP_OPEN_FILES") {
            case nil, "on": o.cgroup.keepFilesOpen = true
            case "off": o.cgroup.keepFilesOpen = false
            case let other?: throw ArgumentParser.ValidationError("--cgroup-open-files: must be on or off, not \"\(other)\"")
            }
            o.cgroup.match = setting(match, "KUBEHERO_MATCH")
            var labels = nodeLabels
            if labels.isEmpty, let env = setting(nil, "KUBEHERO_NODE_LABELS") { labels = env.split(separator: ",").map(String.init) }
            for text in labels {
                let (k, v) = try KubernetesNames.parseLabel(text, field: "--node-label")
                o.nodeLabels[k] = v
            }
            o.bpf = try bpfOptions()
            if let c = cpuCapacityMillicores { o.cpuCapacityMillicores = c }
            if let m = memoryCapacityBytes { o.memoryCapacityBytes = m }
            let health = setting(healthListen, "KUBEHERO_HEALTH_LISTEN") ?? "127.0.0.1:9464"
            o.healthListen = health == "off" ? nil : try HostPort(parsing: health, field: "--health-listen")
            o.drainTimeout = .seconds(drainTimeoutSeconds)
            return o
        }

        /// `--bpf` and the network class flags, as directives (see `NetworkClassConfiguration`).
        func bpfOptions() throws -> BPFOptions {
            func pair(_ text: String, flag: String) throws -> String {
                guard let eq = text.firstIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else {
                    throw ArgumentParser.ValidationError("\(flag): expected A=B, got \"\(text)\"")
                }
                return "\(text[..<eq]) \(text[text.index(after: eq)...])"
            }
            var flags: [(flag: String, directive: String)] = []
            flags += podCidr.map { (flag: "--pod-cidr", directive: "pod-cidr \($0)") }
            flags += serviceCidr.map { (flag: "--service-cidr", directive: "service-cidr \($0)") }
            flags += nodePodCidr.map { (flag: "--node-pod-cidr", directive: "node-pod-cidr \($0)") }
            flags += try zoneSubnet.map { (flag: "--zone-subnet", directive: "zone-subnet \(try pair($0, flag: "--zone-subnet"))") }
            flags += try regionSubnet.map { (flag: "--region-subnet", directive: "region-subnet \(try pair($0, flag: "--region-subnet"))") }
            flags += try netClass.map { (flag: "--net-class", directive: "class \(try pair($0, flag: "--net-class"))") }
            if let inClusterClass { flags.append((flag: "--in-cluster-class", directive: "in-cluster-class \(inClusterClass)")) }
            var options = try BPFOptions.parse(
                mode: setting(bpf, "KUBEHERO_BPF"), file: setting(netConfig, "KUBEHERO_NET_CONFIG_FILE"),
                environment: setting(nil, "KUBEHERO_NET_CONFIG"), flags: flags)
            switch setting(netFromNodes, "KUBEHERO_NET_FROM_NODES") {
            case nil, "on": options.fromNodes = true
            case "off": options.fromNodes = false
            case let other?: throw ArgumentParser.ValidationError("--net-from-nodes: must be on or off, not \"\(other)\"")
            }
            if let text = setting(netFromNodesInterval, "KUBEHERO_NET_FROM_NODES_INTERVAL") {
                let millis = try DurationText.parseMillis(text, field: "--net-from-nodes-interval")
                guard millis >= 10_000 else { throw ArgumentParser.ValidationError("--net-from-nodes-interval: at least 10s, got \"\(text)\"") }
                options.fromNodesInterval = .milliseconds(millis)
            }
            return options
        }

        func intSetting(_ flag: Int?, _ variable: String, flag name: String) throws -> Int? {
            if let flag { return flag }
            guard let text = setting(nil, variable) else { return nil }
            guard let v = Int(text), v > 0 else { throw ArgumentParser.ValidationError("\(variable): \"\(text)\" is not a positive number (\(name))") }
            return v
        }
    }
}
