import Testing

@testable import KubeHeroCLI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A fresh directory under the system temp dir, removed after `body`.
private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let path = FileManager.default.temporaryDirectory.path + "/kubehero-cli-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try body(path)
}

private func read(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

private func mode(_ path: String) -> mode_t {
    var st = stat()
    _ = stat(path, &st)
    return st.st_mode & 0o777
}

@Suite struct BundleFileTests {
    @Test func bundleIsWrittenWithMode0600() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/prod-cert.pem"
            try BundleFile.write("PEM\n", to: path, force: false)
            #expect(read(path) == "PEM\n")
            #expect(mode(path) == 0o600)
        }
    }

    @Test func existingFileIsNotOverwrittenWithoutForce() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/prod-cert.pem"
            try BundleFile.write("OLD\n", to: path, force: false)

            let checked = #expect(throws: CLIError.self) { try BundleFile.checkWritable(path, force: false) }
            #expect(checked?.message == "\(path) already exists; pass --force to replace it, or --out to write elsewhere")
            let written = #expect(throws: CLIError.self) { try BundleFile.write("NEW\n", to: path, force: false) }
            #expect(written?.message == "\(path) already exists; pass --force to replace it, or --out to write elsewhere")
            #expect(read(path) == "OLD\n")
        }
    }

    @Test func forceReplacesTheFileAndKeepsItPrivate() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/prod-cert.pem"
            #expect(FileManager.default.createFile(atPath: path, contents: Data("OLD\n".utf8), attributes: [.posixPermissions: 0o644]))
            try BundleFile.checkWritable(path, force: true)
            try BundleFile.write("NEW\n", to: path, force: true)
            #expect(read(path) == "NEW\n")
            #expect(mode(path) == 0o600)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["prod-cert.pem"])
        }
    }

    @Test func missingDirectoryIsReportedBeforeTheHubIsAsked() throws {
        try withTemporaryDirectory { dir in
            let error = #expect(throws: CLIError.self) { try BundleFile.checkWritable(dir + "/nope/b.pem", force: false) }
            #expect(error?.message == "cannot write \(dir)/nope/b.pem: directory \(dir)/nope does not exist")
            let isDir = #expect(throws: CLIError.self) { try BundleFile.checkWritable(dir, force: true) }
            #expect(isDir?.message == "\(dir) is a directory; pass --out with a file name")
        }
    }

    @Test func defaultPathIsNamedForTheCluster() {
        #expect(BundleFile.defaultPath(cluster: "prod-us-east-1") == "./prod-us-east-1-cert.pem")
    }
}
