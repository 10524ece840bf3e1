// On Linux, C structs such as `stat` and `dirent` are attributed to CoreFoundation (member import visibility).
#if canImport(CoreFoundation)
import CoreFoundation
#endif
import Glibc

/// One pass over a cgroup tree: lists directories only (no counter files), depth-first, bounded
/// in depth and in directories visited, so that discovery is cheap enough to repeat every few
/// seconds.
struct CgroupWalk {
    /// The directory to start from.
    var rootDirectory: String
    /// The hierarchy the directory belongs to, to name what is found by cgroup path.
    var mount: CgroupMount
    /// A glob (fnmatch(3), `FNM_PATHNAME`: `*` stays within one path component) on the path relative
    /// to `rootDirectory`, without a leading `/` (one is allowed in the pattern). When set, every
    /// matching directory is a container; when nil, Kubernetes container cgroups are.
    var match: String?
    var maxDepth: Int
    var maxEntries: Int

    struct Found: Hashable {
        var cgroupPath: String
        var directory: String
        var kubernetes: KubernetesCgroup?
    }

    struct Result {
        var found: [Found] = []
        var directoriesVisited = 0
        /// The first directory whose sub-directories were not listed because of `maxDepth`.
        var cutAtDepth: String?
        /// Set when `maxEntries` stopped the walk.
        var cutAtEntries = false
    }

    func run() throws -> Result {
        var result = Result()
        let rootCgroup = mount.cgroupPath(forFilesystemPath: rootDirectory) ?? "/"
        // Depth-first with an explicit stack, one directory open at a time.
        var stack: [(directory: String, relative: String, depth: Int)] = [(rootDirectory, "", 0)]
        while let (directory, relative, depth) = stack.popLast() {
            if result.directoriesVisited >= maxEntries {
                result.cutAtEntries = true
                break
            }
            result.directoriesVisited += 1
            let children: [String]
            do {
                children = try Self.subdirectories(of: directory)
            } catch {
                // The root must be listable; anything below may vanish while we walk.
                if depth == 0 { throw error }
                continue
            }
            if children.isEmpty { continue }
            if depth + 1 > maxDepth {
                if result.cutAtDepth == nil { result.cutAtDepth = directory }
                continue
            }
            var next: [(String, String, Int)] = []
            for name in children {
                let childRelative = relative.isEmpty ? name : relative + "/" + name
                let childDirectory = CgroupPathText.join(directory, name)
                let cgroupPath = CgroupPathText.join(rootCgroup, childRelative)
                let kubernetes = KubernetesCgroup.classify(relativePath: cgroupPath)
                if let match {
                    if Self.matches(match, childRelative) {
                        result.found.append(Found(cgroupPath: cgroupPath, directory: childDirectory, kubernetes: kubernetes))
                    }
                    next.append((childDirectory, childRelative, depth + 1))
                } else if let kubernetes {
                    // A container's own sub-cgroups (if any) are counted in its counters.
                    result.found.append(Found(cgroupPath: cgroupPath, directory: childDirectory, kubernetes: kubernetes))
                } else {
                    next.append((childDirectory, childRelative, depth + 1))
                }
            }
            stack.append(contentsOf: next.reversed())
        }
        return result
    }

    static func matches(_ pattern: String, _ relative: String) -> Bool {
        let subject = pattern.hasPrefix("/") ? "/" + relative : relative
        return fnmatch(pattern, subject, FNM_PATHNAME) == 0
    }

    /// Names of the sub-directories (child cgroups) of `directory`, sorted.
    static func subdirectories(of directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            let error = errno
            throw CgroupError(.unreadable, path: directory, CgroupFile.describe(error))
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let type = entry.pointee.d_type
            guard type == UInt8(DT_DIR) || type == UInt8(DT_UNKNOWN) else { continue }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            if type == UInt8(DT_UNKNOWN) {
                guard case .directory = CgroupFile.directoryInode(CgroupPathText.join(directory, name)) else { continue }
            }
            names.append(name)
        }
        return names.sorted()
    }
}
