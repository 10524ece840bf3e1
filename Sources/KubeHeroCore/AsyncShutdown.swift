/// Something that holds connections until it is shut down: the project's HTTP clients (hub,
/// kubelet and API server, S3).
public protocol AsyncShutdown: Sendable {
    /// Closes the connections. Called once, when nothing is using the value any more.
    func shutdown() async throws
}

extension AsyncShutdown {
    /// Runs `body` with `self`, then shuts it down whether `body` threw or not. When both
    /// fail, `body`'s error is the one thrown.
    public func closing<Result>(
        isolation: isolated (any Actor)? = #isolation, _ body: (Self) async throws -> Result
    ) async throws -> Result {
        let result: Result
        do {
            result = try await body(self)
        } catch {
            try? await shutdown()
            throw error
        }
        try await shutdown()
        return result
    }
}
