import LeaderboardCore
import NIOCore
import NIOHTTP1

/// Answers plain HTTP on the daemon's port: `GET /health` (also as `/ws/v1/health` through nginx)
/// with 200, `GET /metrics` for Prometheus, anything else 404. Upgrades to WebSocket never reach it.
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
            let path = head?.method == .GET ? head.map { String($0.uri.prefix { $0 != "?" }) } : nil
            let answer: (status: Int, contentType: String, body: [UInt8]) =
                switch path {
                case "/health", "/ws/v1/health": (200, "application/json", Array(#"{"status":"ok"}"#.utf8))
                case "/metrics": (200, Observability.expositionContentType, Observability.exposition())
                default: (404, "application/json", Array(#"{"error":"not found"}"#.utf8))
                }
            var headers = HTTPHeaders([("Content-Type", answer.contentType)])
            headers.add(name: "Content-Length", value: String(answer.body.count))
            if head == nil { headers.add(name: "Connection", value: "close") }
            let response = HTTPResponseHead(
                version: head?.version ?? .http1_1, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
            head = nil
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
