import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension HubClient {
    /// Sends one request and returns the status and body as they came, uninterpreted: for
    /// checking the hub's answers to requests the typed methods never make (tests, debugging).
    public func raw(method: String, path: String, body: Data? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await http.execute(request, timeout: Self.requestTimeout)
            let bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
            return (Int(response.status.code), String(buffer: bytes))
        } catch {
            throw transportError(error)
        }
    }
}
