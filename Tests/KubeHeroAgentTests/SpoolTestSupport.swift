import Foundation
@testable import KubeHeroAgent
import KubeHeroCore
import KubeHeroWire
import Logging
import SwiftProtobuf

/// A fresh directory under the system's temporary directory, removed with its contents when
/// the test (which owns the only reference) ends.
final class SpoolScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "kubehero-spool-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `spool-<n>.log` files, oldest first.
    func segments() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { $0.hasPrefix("spool-") && $0.hasSuffix(".log") }
            .sorted { UInt64($0.dropFirst(6).dropLast(4))! < UInt64($1.dropFirst(6).dropLast(4))! }
    }

    func size(_ name: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size] as? NSNumber)?.intValue ?? -1
    }

    func contents(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/" + name)))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + name))
    }

    /// Copies every file byte for byte, as a crash would leave them to the next process.
    func copy(to other: SpoolScratchDirectory) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: path) {
            try other.write(name, try contents(name))
        }
    }
}

enum SpoolFixtures {
    static let logger = Logger(label: "kubehero.test.spool")

    /// A valid batch with `containers` containers of `ticks` ticks each.
    static func batch(
        _ sequence: UInt64, containers: Int = 2, ticks: Int = 3, droppedBatches: UInt64 = 0, droppedTicks: UInt64 = 0,
        agent: String = "agent-test"
    ) -> UsageBatch {
        UsageBatch(
            agentInstanceID: agent, sequence: sequence, node: NodeInfo(name: "node-1"),
            windowStartUnixMillis: 1_795_003_200_000 + Int64(sequence) * 60_000, tickMillis: 1000, tickCount: ticks,
            containers: (0..<containers).map { c in
                ContainerSamples(
                    cgroupID: UInt64(c + 1), identity: ContainerIdentity(namespace: "ns", pod: "pod-\(c)", container: "app"),
                    cpuNanos: (0..<ticks).map { UInt64($0 + c) * 1_000_000 }, memoryWorkingSetBytes: (0..<ticks).map { _ in 1 << 20 }
                )
            },
            droppedTicks: droppedTicks, droppedBatches: droppedBatches
        )
    }

    static func encoded(_ batch: UsageBatch) throws -> [UInt8] {
        try WireUsageBatch(batch).serializedBytes()
    }

    /// A payload whose bytes say which record it is.
    static func payload(_ sequence: UInt64, size: Int = 100) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: Int(sequence) &* 31 &+ $0) }
    }

    /// Bytes one record of `payloadSize` takes in a segment.
    static func recordSize(_ payloadSize: Int = 100) -> Int {
        SpoolRecordFormat.headerSize + payloadSize
    }
}
