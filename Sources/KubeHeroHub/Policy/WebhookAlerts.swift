import AsyncHTTPClient
import KubeHeroCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// One webhook POST to make: the URL and the JSON body (with a Slack-compatible `text`).
public struct PolicyAlert: Hashable, Sendable {
    public var url: String
    public var policy: String
    public var event: String
    public var body: String

    public init(url: String, policy: String, event: String, body: String) {
        self.url = url
        self.policy = policy
        self.event = event
        self.body = body
    }
}

/// How hard a webhook is tried: `attempts` POSTs, waiting `initialBackoff`, then twice as long
/// each time (capped at `maxBackoff`), each POST bounded by `timeout`.
public struct AlertRetryPolicy: Sendable, Hashable {
    public var attempts = 5
    public var initialBackoff: Duration = .seconds(1)
    public var maxBackoff: Duration = .seconds(30)
    public var timeout: Duration = .seconds(10)

    public init() {}

    var timeoutAmount: TimeAmount {
        .nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
    }

    /// The wait before attempt `n` (2, 3, ...).
    func backoff(beforeAttempt n: Int) -> Duration {
        var d = initialBackoff
        for _ in 2..<max(n, 2) { d = min(d * 2, maxBackoff) }
        return d
    }
}

/// Sends policy alerts to their webhooks, off the evaluator's path: the evaluator enqueues,
/// this service POSTs, retrying a failing endpoint with backoff and giving up cleanly (logged
/// and counted) after the last attempt. Alerts still queued at shutdown are dropped with a log
/// line: they were recorded in the audit log already.
public final class WebhookAlerter: Service, Sendable {
    public struct Counts: Hashable, Sendable {
        public var delivered = 0
        public var failed = 0
        public var attempts = 0

        public init(delivered: Int = 0, failed: Int = 0, attempts: Int = 0) {
            self.delivered = delivered
            self.failed = failed
            self.attempts = attempts
        }
    }

    private let stream: AsyncStream<PolicyAlert>
    private let continuation: AsyncStream<PolicyAlert>.Continuation
    private let retry: AlertRetryPolicy
    private let logger: Logger
    private let counts = Mutex(Counts())

    public init(retry: AlertRetryPolicy = AlertRetryPolicy(), logger: Logger) {
        // Bounded: a hub whose webhooks are all down keeps the newest 10,000 alerts.
        (stream, continuation) = AsyncStream.makeStream(of: PolicyAlert.self, bufferingPolicy: .bufferingNewest(10_000))
        self.retry = retry
        self.logger = logger
    }

    public func enqueue(_ alert: PolicyAlert) { continuation.yield(alert) }

    public var delivered: Counts { counts.withLock { $0 } }

    public func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        await withDiscardingTaskGroup { group in
            for await alert in stream.cancelOnGracefulShutdown() {
                group.addTask { _ = await self.deliver(alert, with: client) }
            }
            group.cancelAll()
        }
        try? await client.shutdown()
    }

    /// POSTs `alert` until a 2xx answer or the last attempt; true when delivered.
    @discardableResult
    public func deliver(_ alert: PolicyAlert, with client: HTTPClient) async -> Bool {
        var lastProblem = ""
        for attempt in 1...max(retry.attempts, 1) {
            if attempt > 1 {
                do { try await Task.sleep(for: retry.backoff(beforeAttempt: attempt)) } catch { break }
            }
            counts.withLock { $0.attempts += 1 }
            var request = HTTPClientRequest(url: alert.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "kubehero-hub")
            request.body = .bytes(ByteBuffer(string: alert.body))
            do {
                let response = try await client.execute(request, timeout: retry.timeoutAmount)
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(response.status.code) {
                    counts.withLock { $0.delivered += 1 }
                    logger.debug("policy alert delivered", metadata: ["policy": "\(alert.policy)", "event": "\(alert.event)", "attempt": "\(attempt)"])
                    return true
                }
                lastProblem = "HTTP \(response.status.code)"
            } catch {
                lastProblem = "\(error)"
            }
            logger.info("policy alert webhook failed", metadata: [
                "policy": "\(alert.policy)", "event": "\(alert.event)", "attempt": "\(attempt)", "problem": "\(lastProblem)",
            ])
        }
        counts.withLock { $0.failed += 1 }
        logger.warning("gave up on a policy alert webhook", metadata: [
            "policy": "\(alert.policy)", "event": "\(alert.event)", "attempts": "\(retry.attempts)", "problem": "\(lastProblem)",
        ])
        return false
    }
}
