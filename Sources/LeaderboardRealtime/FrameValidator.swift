import NIOCore
import NIOWebSocket

/// Checks each frame as it arrives, before fragments are put together, for what RFC 6455 §5 says a
/// server must fail the connection on: an unmasked frame from a client (§5.1), reserved bits set with
/// no extension negotiated (§5.2), and an opcode it does not know (§5.2). NIO's decoder passes such
/// frames on. The first one is reported to the session (which closes with 1002) and nothing after it
/// is passed on but close frames, which the closing handshake needs.
final class FrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// Why a frame broke the protocol, as the close frame's reason says.
    struct Violation: Error, Equatable {
        let reason: String
    }

    static let knownOpcodes: [WebSocketOpcode] = [.continuation, .text, .binary, .connectionClose, .ping, .pong]

    private var violated = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if violated {
            if frame.opcode == .connectionClose { context.fireChannelRead(data) }
            return
        }
        if let violation = Self.violation(in: frame) {
            violated = true
            context.fireErrorCaught(violation)
            return
        }
        context.fireChannelRead(data)
    }

    static func violation(in frame: WebSocketFrame) -> Violation? {
        if frame.maskKey == nil { return Violation(reason: "frames from a client must be masked") }
        if frame.rsv1 || frame.rsv2 || frame.rsv3 { return Violation(reason: "reserved bits set") }
        if !knownOpcodes.contains(frame.opcode) { return Violation(reason: "unknown opcode") }
        return nil
    }
}
