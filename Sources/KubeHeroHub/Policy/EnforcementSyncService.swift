import Logging
import ServiceLifecycle

/// On every replica of a hub with several (PostgreSQL): while this replica does not lead, it
/// publishes the enforcement sets of the leader's stored policy states every `interval`
/// (`PolicyEngine.publishStoredEnforcement`), so an edge operator holds the same directives
/// whichever replica its stream landed on. The leader publishes after each of its passes.
public struct EnforcementSyncService: Service {
    let engine: PolicyEngine
    let leadership: any Leadership
    let interval: Duration
    let logger: Logger

    public init(engine: PolicyEngine, leadership: any Leadership, interval: Duration, logger: Logger) {
        self.engine = engine
        self.leadership = leadership
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                if !leadership.isLeader {
                    do {
                        try await engine.publishStoredEnforcement()
                        if failing { logger.info("enforcement sets read from the store again") }
                        failing = false
                    } catch is CancellationError {
                        return
                    } catch {
                        if !failing {
                            logger.warning("cannot read the stored policy states; operators on this replica keep their enforcement sets", metadata: ["error": "\(error)"])
                        }
                        failing = true
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
