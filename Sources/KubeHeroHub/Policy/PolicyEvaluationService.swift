import Logging
import ServiceLifecycle

/// Runs `PolicyEngine.evaluate()` every interval (default 60 s), and at once after a policy
/// changes. The only caller of `evaluate()` in a running hub, so passes never overlap.
public struct PolicyEvaluationService: Service {
    let engine: PolicyEngine
    let interval: Duration
    let logger: Logger
    /// How often a requested pass is looked for between intervals.
    static let poll: Duration = .milliseconds(200)

    public init(engine: PolicyEngine, interval: Duration, logger: Logger) {
        self.engine = engine
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = engine.takeRequest()
                do {
                    try await engine.evaluate()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("policy evaluation failed; retrying next interval", metadata: ["error": "\(error)"])
                }
                var waited: Duration = .zero
                while waited < interval, !Task.isCancelled, !engine.takeRequest() {
                    let step = min(Self.poll, interval - waited)
                    try? await Task.sleep(for: step)
                    waited += step
                }
            }
        }
    }
}
