import HTTPTypes
import KubeHeroAudit
import Hummingbird
import KubeHeroPKI
import KubeHeroStore

/// The request context of the REST API: Hummingbird's core storage plus who is calling.
public struct HubRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller's token, set by `BearerAuthMiddleware`.
    public var token: TokenRecord?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        token = nil
    }

    /// Cluster requests carry a CSR; 256 KiB is far more than any honest request needs.
    public var maxUploadSize: Int { 256 * 1024 }
}

/// Requires `Authorization: Bearer <token>` on every route it guards and records the token in
/// the context. Tokens are looked up by the SHA-256 of the secret; the secret is never stored.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let store: any HubStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, code: "unauthenticated", "missing Authorization: Bearer <token> header")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].utf8.count <= 512 else {
            throw APIError(.unauthorized, code: "unauthenticated", "Authorization header must be \"Bearer <token>\"")
        }
        guard let token = try await store.token(secretHashHex: APIToken.hash(String(parts[1]))) else {
            throw APIError(.unauthorized, code: "unauthenticated", "unknown or revoked token")
        }
        var context = context
        context.token = token
        return try await next(request, context)
    }
}

extension HubRequestContext {
    /// Who the audit log says did it: the caller's token.
    var auditActor: AuditActor { token.map { .token($0.id) } ?? .hub }

    /// Throws 403 unless the caller's token has the admin role.
    func requireAdmin() throws {
        guard token?.role == .admin else {
            throw APIError(.forbidden, code: "forbidden", "this needs an admin token; token \(token?.id ?? "?") has role \(token?.role.rawValue ?? "none")")
        }
    }
}
