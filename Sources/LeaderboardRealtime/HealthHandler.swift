import NIOCore
import NIOHTTP1

/// Answers plain HTTP on the daemon's port: `GET /health` (also as `/ws/v1/health` through nginx)
/// with 200, anything else 404. Upgrades to WebSocket never reach it.
final class HealthHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead): head = requestHead
        case .body: break
        case .end:
            // A refused upgrade (unknown path) arrives as `.end` alone: swift-nio issue 2632.
            let path = head.map { String($0.uri.prefix { $0 != "?" }) }
            let isHealth = head?.method == .GET && (path == "/health" || path == "/ws/v1/health")
            let body = isHealth ? #"{"status":"ok"}"# : #"{"error":"not found"}"#
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            if head == nil { headers.add(name: "Connection", value: "close") }
            let response = HTTPResponseHead(version: head?.version ?? .http1_1, status: isHealth ? .ok : .notFound, headers: headers)
            head = nil
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
