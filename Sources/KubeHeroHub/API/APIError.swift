import HTTPTypes
import Hummingbird
import KubeHeroCore
import KubeHeroStore
import Logging
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An error a REST client sees: an HTTP status and the JSON body
/// `{"error": {"code": "...", "message": "...", "field": "..."}}`.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { field.map { "\($0): \(message)" } ?? message }

    static func invalid(_ error: ValidationError) -> APIError {
        APIError(.badRequest, code: "invalid", "\(error.field): \(error.reason)", field: error.field)
    }

    static func notFound(_ message: String) -> APIError { APIError(.notFound, code: "not_found", message) }

    static func from(_ error: StoreError) -> APIError {
        switch error.code {
        case .conflict: APIError(.conflict, code: "conflict", error.message)
        case .notFound: APIError(.notFound, code: "not_found", error.message)
        default: APIError(.internalServerError, code: "store", error.message)
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = APIErrorBody(error: .init(code: code, message: message, field: field))
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"kubehero\"" }
        let data = (try? JSONEncoder().encode(body)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error into the JSON error body: ours as they are, Hummingbird's (404, 405,
/// body too large) with their status, store errors by code, anything else as a 500 that does
/// not leak internals beyond its description.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as ValidationError {
            throw APIError.invalid(error)
        } catch let error as StoreError {
            throw APIError.from(error)
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound: message = "no such endpoint: \(request.method) \(request.uri.path)"
            case .methodNotAllowed: message = "\(request.method) is not allowed on \(request.uri.path)"
            case .contentTooLarge: message = "request body is larger than \(context.maxUploadSize) bytes"
            default: message = error.body ?? error.status.reasonPhrase
            }
            throw APIError(error.status, code: error.status == .notFound ? "not_found" : "http", message)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(.internalServerError, code: "internal", "internal error: \(error)")
        }
    }
}
