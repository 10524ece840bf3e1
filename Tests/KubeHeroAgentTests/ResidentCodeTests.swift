@testable import KubeHeroAgent
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Unmapping the code that ran before the agent started (ResidentCode.swift).
@Suite("Resident code")
struct ResidentCodeTests {
    static let maps = """
        5631c1874000-5631c40b6000 r-xp 00000000 fe:00 5432106                    /opt/kubehero/kubehero-agent
        5631c40b6000-5631c41be000 r--p 02841000 fe:00 5432106                    /opt/kubehero/kubehero-agent
        5631c41be000-5631c455a000 rw-p 02949000 fe:00 5432106                    /opt/kubehero/kubehero-agent
        5631c455a000-5631c4600000 rw-p 00000000 00:00 0                          [heap]
        7f0c2a000000-7f0c2a028000 r-xp 00000000 fe:00 131                        /usr/lib/x86_64-linux-gnu/libc.so.6
        7f0c2b000000-7f0c2b001000 r-xp 00000000 fe:00 5432107                    /opt/kubehero/kubehero-agent-other
        """

    @Test("only the binary's own executable mappings are chosen; data, relocations and libraries are not")
    func choosesMappings() {
        let chosen = ResidentCode.executableMappings(of: "/opt/kubehero/kubehero-agent", maps: Self.maps)
        #expect(chosen.map(\.start) == [0x5631c1874000] && chosen.map(\.end) == [0x5631c40b6000])
    }

    @Test("a mapping with copy-on-write pages is recognised by its Anonymous count")
    func anonymousPages() {
        let smaps = """
            5631c1874000-5631c40b6000 r-xp 00000000 fe:00 5432106                    /opt/kubehero/kubehero-agent
            Size:              41224 kB
            Rss:               24516 kB
            Anonymous:             0 kB
            AnonHugePages:         0 kB
            5631c40b6000-5631c41be000 r--p 02841000 fe:00 5432106                    /opt/kubehero/kubehero-agent
            Size:               1056 kB
            Anonymous:          1056 kB
            """
        #expect(ResidentCode.anonymousKiB(ofMappingAt: 0x5631c1874000, smaps: smaps) == 0)
        #expect(ResidentCode.anonymousKiB(ofMappingAt: 0x5631c40b6000, smaps: smaps) == 1056)
        #expect(ResidentCode.anonymousKiB(ofMappingAt: 0x1000, smaps: smaps) == nil)
    }

    /// Runs `trimmer` in a service group for `body`, then shuts the group down gracefully;
    /// throws what the group threw (a service that ends early ends the group with an error).
    static func run(_ trimmer: ResidentCode.Trimmer, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: trimmer)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("the trimmer waits for the first acknowledged batch, trims, and ends with the agent; with keep it does nothing until then")
    func trimmer() async throws {
        let log = MetadataLogRecorder()
        let acknowledged = Mutex(0)
        let trim = ResidentCode.Trimmer(mode: .trim, logger: log.logger) { acknowledged.withLock { $0 } }
        try await Self.run(trim) {
            try await Task.sleep(for: .milliseconds(600))
            #expect(log.all.isEmpty, "nothing before the first acknowledgement: \(log.all)")
            acknowledged.withLock { $0 = 1 }
            for _ in 0..<100 where log.all.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        let messages = log.messages(at: .debug)
        #if os(Linux)
        #expect(messages == ["resident code trimmed"], "\(log.all)")
        #else
        #expect(messages == ["resident code not trimmed"], "\(log.all)")
        #endif

        let quiet = MetadataLogRecorder()
        try await Self.run(ResidentCode.Trimmer(mode: .keep, logger: quiet.logger) { 1 }) {
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(quiet.all.isEmpty)
    }

    #if os(Linux)
    @Test("on this process: its code is unmapped, fewer of its pages are resident, and it keeps running")
    func unmapsThisProcess() throws {
        func residentCodeKiB() throws -> Int {
            // Rss of this executable's r-x mappings, from /proc/self/smaps.
            let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
            var total = 0
            var inside = false
            for line in smaps.split(separator: "\n") {
                if let first = line.first, first.isNumber || ("a"..."f").contains(first) {
                    inside = line.hasSuffix(exe) && line.split(separator: " ")[1].contains("x")
                } else if inside, line.hasPrefix("Rss:") {
                    total += Int(line.split(separator: " ")[1]) ?? 0
                }
            }
            return total
        }
        let before = try residentCodeKiB()
        let report = try ResidentCode.unmapCode().get()
        let after = try residentCodeKiB()
        #expect(report.mappings >= 1 && report.bytes > 0)
        #expect(after < before, "resident code \(before) KiB before, \(after) KiB after")
        // Code that ran before runs again: mapped back from the file.
        #expect(try residentCodeKiB() > 0)
    }
    #endif
}
