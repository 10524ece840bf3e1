import AsyncHTTPClient
import Foundation
import Hummingbird
import KubeHeroHub
import KubeHeroTestSupport
import Logging
import NIOCore
import Synchronization
import Testing

/// A webhook receiver on loopback that fails the first `failures` POSTs with 503, then
/// answers 200; it records every body it got.
func withWebhookReceiver<R: Sendable>(failures: Int, _ body: @Sendable (String, @escaping @Sendable () -> [String]) async throws -> R) async throws -> R {
    let received = Mutex<[String]>([])
    let router = Router()
    router.post("/hook") { request, _ -> Response in
        let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
        let n = received.withLock { r in r.append(text); return r.count }
        return Response(status: n <= failures ? .serviceUnavailable : .ok)
    }
    let port = Mutex(0)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } }, logger: quietLogger
    )
    return try await withThrowingTaskGroup(of: R?.self) { group in
        group.addTask { try await app.runService(gracefulShutdownSignals: []); return nil }
        var p = 0
        for _ in 0..<500 where p == 0 {
            try await Task.sleep(for: .milliseconds(10))
            p = port.withLock { $0 }
        }
        let result = try await body("http://127.0.0.1:\(p)/hook", { received.withLock { $0 } })
        group.cancelAll()
        return result
    }
}

@Suite("Policy alert webhooks")
struct WebhookAlertTests {
    static var fastRetry: AlertRetryPolicy {
        var r = AlertRetryPolicy()
        r.attempts = 4
        r.initialBackoff = .milliseconds(20)
        r.maxBackoff = .milliseconds(80)
        r.timeout = .seconds(2)
        return r
    }

    static func alert(_ url: String) -> PolicyAlert {
        PolicyAlert(url: url, policy: "p", event: "policy.threshold", body: #"{"event":"policy.threshold","policy":"p","text":"KubeHero budget policy p: 80% actual threshold crossed"}"#)
    }

    @Test func aFailingEndpointIsRetriedWithBackoffUntilItAnswers() async throws {
        try await withWebhookReceiver(failures: 2) { url, received in
            let alerter = WebhookAlerter(retry: Self.fastRetry, logger: quietLogger)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let start = ContinuousClock.now
            let delivered = await alerter.deliver(Self.alert(url), with: client)
            let elapsed = ContinuousClock.now - start
            try await client.shutdown()
            #expect(delivered)
            #expect(received().count == 3)
            #expect(received().allSatisfy { $0.contains(#""text":"KubeHero budget policy p: 80% actual threshold crossed""#) })
            #expect(elapsed >= .milliseconds(60), "backoff 20 ms then 40 ms")
            #expect(alerter.delivered == .init(delivered: 1, failed: 0, attempts: 3))
        }
    }

    @Test func anEndpointThatNeverAnswersIsGivenUpCleanly() async throws {
        try await withWebhookReceiver(failures: 1_000) { url, received in
            let alerter = WebhookAlerter(retry: Self.fastRetry, logger: quietLogger)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            let delivered = await alerter.deliver(Self.alert(url), with: client)
            // A refused connection (nothing listens on port 1) is given up the same way.
            let refused = await alerter.deliver(Self.alert("http://127.0.0.1:1/hook"), with: client)
            try await client.shutdown()
            #expect(!delivered && !refused)
            #expect(received().count == 4)
            #expect(alerter.delivered == .init(delivered: 0, failed: 2, attempts: 8))
        }
    }
}
