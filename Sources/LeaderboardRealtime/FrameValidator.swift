import NIOCore
import NIOWebSocket

/// Checks each frame as it arrives, before fragments are put together, for what RFC 6455 says a server
/// must fail the connection on: an unmasked frame from a client (§5.1), reserved bits set with no
/// extension negotiated (§5.2), an opcode it does not know (§5.2), a close frame with a 1-byte body or a
/// code no endpoint may send (§7.4), and text that is not UTF-8 (§8.1), in a message or a close reason.
/// Text is checked fragment by fragment, so a bad byte fails the connection in the frame that brings it.
/// The decoder passes such frames on. The first one is reported to the session (which closes with the
/// violation's code) and nothing after it is passed on but close frames, which the closing handshake needs
/// (a refused close frame too: the client's half of the handshake is done).
final class FrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    /// Why a frame broke the protocol: the close frame's code and reason.
    struct Violation: Error, Equatable {
        let code: WebSocketErrorCode
        let reason: String

        static func protocolError(_ reason: String) -> Violation { Violation(code: .protocolError, reason: reason) }
        static func invalidText(_ reason: String) -> Violation { Violation(code: .dataInconsistentWithMessage, reason: reason) }
    }

    static let knownOpcodes: [WebSocketOpcode] = [.continuation, .text, .binary, .connectionClose, .ping, .pong]

    private var violated = false
    /// The text message under way, checked so far; nil between messages and during a binary one.
    private var text: UTF8Validator?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if violated {
            if frame.opcode == .connectionClose { context.fireChannelRead(data) }
            return
        }
        if let violation = Self.violation(in: frame) ?? textViolation(in: frame) {
            violated = true
            context.fireErrorCaught(violation)
            if frame.opcode == .connectionClose { context.fireChannelRead(data) }
            return
        }
        context.fireChannelRead(data)
    }

    static func violation(in frame: WebSocketFrame) -> Violation? {
        if frame.maskKey == nil { return .protocolError("frames from a client must be masked") }
        if frame.rsv1 || frame.rsv2 || frame.rsv3 { return .protocolError("reserved bits set") }
        if !knownOpcodes.contains(frame.opcode) { return .protocolError("unknown opcode") }
        if frame.opcode == .connectionClose { return closeViolation(in: frame.unmaskedData) }
        return nil
    }

    /// A close frame's body is empty, or a code that may be sent and a UTF-8 reason (§5.5.1, §7.4).
    static func closeViolation(in body: ByteBuffer) -> Violation? {
        var body = body
        guard body.readableBytes > 0 else { return nil }
        guard let code = body.readInteger(as: UInt16.self) else { return .protocolError("a close frame's body is a code of 2 bytes") }
        guard mayBeSent(closeCode: code) else { return .protocolError("close code \(code) may not be sent") }
        var reason = UTF8Validator()
        guard reason.accept(body.readableBytesView), reason.isComplete else { return .invalidText("the close reason is not UTF-8") }
        return nil
    }

    /// The codes RFC 6455 §7.4 and IANA's registry define for a close frame, and those for applications;
    /// 1004 is reserved, 1005, 1006 and 1015 stand for a close without a frame and must never be sent.
    static func mayBeSent(closeCode code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    private func textViolation(in frame: WebSocketFrame) -> Violation? {
        switch frame.opcode {
        case .text: text = UTF8Validator()
        case .binary: text = nil
        default: break
        }
        // A continuation of nothing is the aggregator's to refuse.
        guard [.text, .continuation].contains(frame.opcode), var message = text else { return nil }
        guard message.accept(frame.unmaskedData.readableBytesView), !frame.fin || message.isComplete else {
            return .invalidText("text that is not UTF-8")
        }
        text = frame.fin ? nil : message
        return nil
    }
}
