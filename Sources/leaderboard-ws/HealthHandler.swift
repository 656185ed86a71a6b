import LeaderboardCore
import NIOCore
import NIOHTTP1

/// Answers `GET /health` (and `/ws/v1/health` through nginx) with the daemon's liveness; 404 otherwise.
final class HealthHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead): head = requestHead
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let isHealth = head.method == .GET && ["/health", "/ws/v1/health"].contains(head.uri.split(separator: "?").first.map(String.init))
            let body = isHealth ? #"{"status":"ok"}"# : #"{"error":"not found"}"#
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let response = HTTPResponseHead(version: head.version, status: isHealth ? .ok : .notFound, headers: headers)
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
