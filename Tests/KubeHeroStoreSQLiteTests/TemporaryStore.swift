import Foundation
import KubeHeroStoreSQLite

/// A new directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kubehero-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a store on a new database file (and that file's path), then closes the
/// store and removes the file.
func withTemporaryStore(_ body: (SQLiteStore, String) async throws -> Void) async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let path = directory.path + "/hub.db"
    let store = try await SQLiteStore.open(path: path)
    do {
        try await body(store, path)
    } catch {
        try? await store.close()
        throw error
    }
    try await store.close()
}
