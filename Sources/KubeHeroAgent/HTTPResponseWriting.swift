import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The agent's two small HTTP/1.1 servers (health and metrics; the operator's admission webhook)
/// on plain SwiftNIO: bound the same way, served the same way.
enum HTTPServing {
    /// A listening channel on `host:port` whose connections get TLS (when `tls` is given), the
    /// HTTP/1.1 codec, and a new handler from `handler`.
    static func bind(
        host: String, port: Int, tls: NIOSSLContext? = nil, handler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(handler())
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Serves until graceful shutdown, or until cancelled (a ServiceGroup cancels its services
    /// when its own task is cancelled), then closes `channel`. Returning from a service's run()
    /// early would mean failure to its ServiceGroup.
    static func serveUntilShutdown(_ channel: any Channel) async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

extension ChannelInboundHandler where OutboundOut == HTTPServerResponsePart {
    /// Writes a whole response to `head` (the body unless it was a HEAD request), and closes the
    /// connection after it unless the client keeps it alive.
    func writeResponse(context: ChannelHandlerContext, to head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: ByteBuffer) {
        let keepAlive = head.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in context.value.close(promise: nil) }
        }
    }
}
