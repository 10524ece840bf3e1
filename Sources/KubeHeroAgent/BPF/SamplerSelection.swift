import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

// On Linux, C structs such as `ifaddrs` and `sockaddr_in` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Whether the agent uses eBPF (`--bpf`).
public enum BPFMode: String, Sendable, Hashable, CaseIterable {
    /// eBPF where the node allows it, else cgroupfs alone, saying why.
    case auto
    /// eBPF or nothing: the agent does not start without it.
    case on
    /// cgroupfs alone.
    case off
}

/// The eBPF side of the agent's configuration.
public struct BPFOptions: Sendable, Hashable {
    public var mode: BPFMode = .auto
    public var network = NetworkClassConfiguration()
    /// Add this host's interface addresses as same-node (on for a node agent; tests turn it off
    /// to classify their own addresses).
    public var detectNodeAddresses = true
    /// The kernel BTF the programs need (CO-RE).
    public var btfPath = "/sys/kernel/btf/vmlinux"
    /// Learn the other nodes' zones and networks from the API server (`NodeNetworkSource`),
    /// when the agent has one (`--net-from-nodes`).
    public var fromNodes = true
    /// How often the nodes are listed for that.
    public var fromNodesInterval: Duration = .seconds(300)

    public init() {}
}

/// The sampler the agent runs with, and how to release it on shutdown.
public struct SelectedSampler: Sendable {
    public let sampler: any UsageSampler
    /// Why eBPF is not used; nil when it is.
    public let fallbackReason: String?
    /// The loaded programs, and the class configuration their tables were filled from (with
    /// this host's addresses); nil without eBPF.
    public let programs: BPFPrograms?
    public let network: NetworkClassConfiguration?
    public let close: @Sendable () -> Void
}

extension EBPFSampler {
    /// The eBPF sampler when `options.mode` and the node allow it, else the cgroupfs sampler; a
    /// fallback is logged with its reason (`--bpf on` throws it instead). `zone` and `region`
    /// are this node's ("" when unknown), for the zone-subnet and region-subnet classes.
    public static func select(
        cgroup: CgroupOptions, bpf options: BPFOptions, zone: String, region: String = "", logger: Logger
    ) throws -> SelectedSampler {
        let cgroups = try CgroupfsSampler(options: cgroup, logger: logger)
        logger.info("sampling container cgroups", metadata: cgroups.logMetadata)
        let programs: BPFPrograms
        let network: NetworkClassConfiguration
        do throws(BPFError) {
            (programs, network) = try load(cgroups: cgroups, options: options, zone: zone, region: region, nodeName: "", logger: logger)
        } catch {
            if options.mode == .on { throw ValidationError(field: "--bpf", "on, but eBPF cannot be used: \(error)") }
            if options.mode == .off {
                logger.notice("eBPF off (--bpf off): CPU from cgroupfs, no network bytes; batches are marked cgroupfs")
            } else {
                logger.warning(
                    "eBPF unavailable: CPU from cgroupfs, no network bytes; batches are marked cgroupfs",
                    metadata: ["reason": "\(error)"])
            }
            return SelectedSampler(sampler: cgroups, fallbackReason: error.description, programs: nil, network: nil, close: {})
        }
        let sampler = EBPFSampler(cgroups: cgroups, programs: programs, logger: logger)
        return SelectedSampler(sampler: sampler, fallbackReason: nil, programs: programs, network: network, close: { sampler.close() })
    }

    /// Loads, fills and attaches the programs, or says why not; returns them with the class
    /// configuration their tables hold.
    static func load(
        cgroups: CgroupfsSampler, options: BPFOptions, zone: String, region: String, nodeName: String, logger: Logger
    ) throws(BPFError) -> (BPFPrograms, NetworkClassConfiguration) {
        if options.mode == .off { throw BPFError("turned off with --bpf off") }
        guard let v2 = cgroups.mounts.v2 else {
            throw BPFError("no cgroup v2 hierarchy is mounted (BPF identifies cgroups by their v2 id)")
        }
        guard cgroups.rootVersion == .v2, CgroupPathText.remainder(of: cgroups.root, under: v2.mountPoint) != nil else {
            throw BPFError("the cgroups sampled (\(cgroups.root)) are not in the cgroup v2 hierarchy at \(v2.mountPoint); BPF identifies cgroups by their v2 id")
        }
        guard access(options.btfPath, R_OK) == 0 else {
            throw BPFError("the kernel has no BTF at \(options.btfPath) (CONFIG_DEBUG_INFO_BTF); the CO-RE programs need it")
        }
        var network = options.network
        if options.detectNodeAddresses { network.nodeAddresses += HostAddresses.current() }
        let rules = network.rules(zone: zone, region: region, nodeName: nodeName)
        let programs = try BPFPrograms.load([.cpu, .network])
        do {
            try programs.install(rules)
            try programs.attach(cgroupV2Root: v2.mountPoint)
        } catch {
            programs.close()
            throw error
        }
        let loaded = (try? programs.programs()) ?? []
        logger.info("eBPF sampling: CPU from sched_switch, network bytes by class from cgroup_skb", metadata: [
            "bpf.cgroupRoot": "\(v2.mountPoint)", "bpf.classRules": "\(rules.count)", "bpf.zone": "\(zone.isEmpty ? "unknown" : zone)",
            "bpf.region": "\(region.isEmpty ? "unknown" : region)",
            "bpf.programs": "\(loaded.map { "\($0.name)#\($0.programID)" }.joined(separator: " "))",
        ])
        return (programs, network)
    }
}

/// This host's own interface addresses (a node agent runs in the host network namespace).
enum HostAddresses {
    static func current() -> [CIDR] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var found: [CIDR] = []
        var next: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = next {
            defer { next = entry.pointee.ifa_next }
            guard let sa = entry.pointee.ifa_addr else { continue }
            switch Int32(sa.pointee.sa_family) {
            case AF_INET:
                let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
                found.append(CIDR(address: bytes, prefixLength: 32))
            case AF_INET6:
                let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
                found.append(CIDR(address: bytes, prefixLength: 128))
            default:
                continue
            }
        }
        return Array(Set(found)).sorted()
    }
}

extension BPFOptions {
    /// The options from the agent's settings: `mode` (`--bpf`), a directives file
    /// (`--net-config`), directives from the environment (`KUBEHERO_NET_CONFIG`, `;` between
    /// them), then one directive per networking flag, applied in that order. Errors name the
    /// flag, or the file and line.
    ///
    /// ```swift
    /// let bpf = try BPFOptions.parse(mode: "auto", file: nil, environment: nil,
    ///                                flags: [("--pod-cidr", "pod-cidr 10.244.0.0/16")])
    /// ```
    public static func parse(
        mode: String?, file: String?, environment: String?, flags: [(flag: String, directive: String)]
    ) throws(ValidationError) -> BPFOptions {
        var options = BPFOptions()
        if let mode {
            guard let m = BPFMode(rawValue: mode) else { throw ValidationError(field: "--bpf", "must be auto, on or off, got \"\(mode)\"") }
            options.mode = m
        }
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ValidationError(field: "--net-config", "cannot read \(file): \(error)")
            }
            try options.network.apply(text: text, origin: file)
        }
        if let environment { try options.network.apply(text: environment, origin: "KUBEHERO_NET_CONFIG", separator: ";") }
        for (flag, directive) in flags { try options.network.apply(Substring(directive), source: flag) }
        return options
    }
}
