import Logging

// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object per line on standard error: what a DaemonSet's log collector wants.
/// `{"ts":"...","level":"info","logger":"kubehero-agent","msg":"...","key":"value",...}`
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "{\"ts\":\"\(TimestampNow.rfc3339())\",\"level\":\"\(event.level)\",\"logger\":\"\(jsonEscaped(label))\",\"msg\":\"\(jsonEscaped(event.message.description))\""
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            line += ",\"\(jsonEscaped(key))\":\"\(jsonEscaped(value.description))\""
        }
        line += "}\n"
        // One write(2) per line on fd 2, so lines from different threads never interleave.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}

import KubeHeroCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

enum TimestampNow {
    static func rfc3339() -> String { Timestamp.rfc3339(millis: Int64(Date().timeIntervalSince1970 * 1000)) }
}
