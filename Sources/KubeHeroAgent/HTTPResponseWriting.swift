import NIOCore
import NIOHTTP1

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
