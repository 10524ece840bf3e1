import KubeHeroCore
import Testing

@testable import KubeHeroCLI

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

@Suite struct ErrorLineTests {
    @Test func apiErrorShowsMessageAndField() {
        let body = APIErrorBody(error: .init(code: "conflict", message: "cluster \"prod\" already exists", field: "name"))
        #expect(ErrorLine.render(HubError(status: 409, body: body)) == "error: name: cluster \"prod\" already exists")
    }

    @Test func apiErrorDoesNotRepeatAFieldTheMessageAlreadyNames() {
        // The hub's validation messages are "field: reason" already.
        let body = APIErrorBody(error: .init(code: "invalid", message: "labels[env]: label value \"a b\" is not valid", field: "labels[env]"))
        #expect(ErrorLine.render(HubError(status: 400, body: body)) == "error: labels[env]: label value \"a b\" is not valid")
    }

    @Test func apiErrorWithoutFieldIsTheMessage() {
        let body = APIErrorBody(error: .init(code: "not_found", message: "cluster \"x\" is not registered"))
        let error = HubError(status: 404, body: body)
        #expect(ErrorLine.render(error) == "error: cluster \"x\" is not registered")
        #expect(error.code == .api)
        #expect(error.status == 404)
        #expect(error.detail?.code == "not_found")
    }

    @Test func apiErrorCarriesAHint() {
        let body = APIErrorBody(error: .init(code: "unauthenticated", message: "unknown or revoked token"))
        #expect(ErrorLine.render(HubError(status: 401, body: body, hint: "token from KUBEHERO_TOKEN"))
            == "error: unknown or revoked token (token from KUBEHERO_TOKEN)")
    }

    @Test func hubErrorBodyIsReadFromTheWire() async throws {
        let client = try HubClient(baseURL: "http://127.0.0.1:1")
        let json = #"{"error":{"code":"invalid","message":"window: must be at least 1m, got 10s","field":"window"}}"#
        let error = client.answerError(status: 400, data: Data(json.utf8), what: "GET /v1/costs")
        #expect(ErrorLine.render(error) == "error: window: must be at least 1m, got 10s")

        let proxy = client.answerError(status: 502, data: Data("<html>\n<body>bad gateway</body>\n</html>".utf8), what: "GET /v1/costs")
        #expect(ErrorLine.render(proxy) == "error: the hub at http://127.0.0.1:1 answered GET /v1/costs with 502 Bad Gateway: <html> <body>bad gateway</body> </html>")
        try await client.shutdown()
    }

    @Test func missingTokenIsExplainedOnA401() async throws {
        let client = try HubClient(baseURL: "http://127.0.0.1:1")
        let json = #"{"error":{"code":"unauthenticated","message":"missing Authorization: Bearer <token> header"}}"#
        let error = client.answerError(status: 401, data: Data(json.utf8), what: "GET /v1/clusters")
        #expect(error.message.hasSuffix("(no token is set: pass --token, set KUBEHERO_TOKEN, or add \"token:\" to the config file)"))
        try await client.shutdown()
    }

    @Test func validationErrorNamesTheFlag() {
        #expect(ErrorLine.render(ValidationError(field: "--label", "expected key=value, got \"team\""))
            == "error: --label: expected key=value, got \"team\"")
    }

    @Test func everyReasonIsOneLine() {
        #expect(ErrorLine.render(CLIError("first\n  second\r\nthird")) == "error: first second third")
    }

    @Test func connectionRefusedNamesTheHub() async throws {
        // Nothing listens on port 1 of the loopback address.
        let config = try CLIConfig.resolve(flags: .init(hub: "http://127.0.0.1:1"), environment: [:], fileReader: { _ in nil })
        let error = await #expect(throws: HubError.self) {
            try await HubClient.withClient(config) { try await $0.listClusters() }
        }
        #expect(error?.code == .unreachable)
        #expect(error?.message.hasPrefix("cannot reach hub at http://127.0.0.1:1: connection refused") == true)
    }

    @Test func unreadableCAFileIsNamed() {
        let config = CLIConfig(hubURL: "https://127.0.0.1:8443", caFile: "/nonexistent/ca.pem", caFileSource: "KUBEHERO_CA_FILE")
        let error = #expect(throws: HubError.self) { try HubClient(config: config) }
        #expect(error?.message == "CA file /nonexistent/ca.pem (from KUBEHERO_CA_FILE) does not exist or cannot be read")
    }

    @Test func queryValuesArePercentEncoded() {
        let query = HubClient.CostsQuery(
            window: "2026-11-01T00:00:00Z,2026-11-08T00:00:00Z", aggregate: "label:app.kubernetes.io/name",
            filter: .init(namespace: "a b")
        )
        #expect(HubClient.queryString(query.queryItems)
            == "?window=2026-11-01T00%3A00%3A00Z%2C2026-11-08T00%3A00%3A00Z&aggregate=label%3Aapp.kubernetes.io%2Fname&namespace=a%20b")
        #expect(HubClient.queryString(HubClient.SeriesQuery(window: "1h", step: "1m").queryItems) == "?window=1h&step=1m")
    }
}
