/// Why the cgroup sampler could not start or could not list a hierarchy: the code says what kind
/// of problem, the path where, the reason in words an operator can act on.
///
/// ```swift
/// // cgroup hierarchy not found: /proc/self/mountinfo: no cgroup2 or cgroup mount; is /sys/fs/cgroup mounted?
/// ```
public struct CgroupError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case noHierarchy = "cgroup hierarchy not found"
            case notAHierarchy = "not a cgroup hierarchy"
            case unreadable = "cannot read"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The host has no cgroup mount at all (or the mountinfo given lists none).
        public static let noHierarchy = Code(.noHierarchy)
        /// `cgroupRoot` points above the cgroup mounts (e.g. the tmpfs `/sys/fs/cgroup` of a v1 host).
        public static let notAHierarchy = Code(.notAHierarchy)
        /// A file or directory could not be opened or read.
        public static let unreadable = Code(.unreadable)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The file or directory concerned.
    public var path: String
    public var reason: String

    public init(_ code: Code, path: String, _ reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(code): \(path): \(reason)" }
}
