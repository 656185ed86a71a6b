import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import LeaderboardRealtime

/// RFC 6455 §5.1–5.2: what a server must fail the connection on, checked frame by frame.
@Suite struct FrameValidatorTests {
    static let mask = WebSocketMaskingKey([1, 2, 3, 4])

    static func frame(_ opcode: WebSocketOpcode = .text, masked: Bool = true, rsv1: Bool = false, rsv3: Bool = false) -> WebSocketFrame {
        WebSocketFrame(fin: true, rsv1: rsv1, rsv3: rsv3, opcode: opcode, maskKey: masked ? mask : nil, data: ByteBuffer(string: "{}"))
    }

    @Test(arguments: [
        (frame(masked: false), "frames from a client must be masked"),
        (frame(rsv1: true), "reserved bits set"),
        (frame(.ping, rsv3: true), "reserved bits set"),
        (frame(WebSocketOpcode(encodedWebSocketOpcode: 0x3)!), "unknown opcode"),
        (frame(WebSocketOpcode(encodedWebSocketOpcode: 0xB)!), "unknown opcode"),
    ])
    func refusesAFrameThatBreaksTheProtocolAndPassesOnlyCloseFramesAfterIt(frame: WebSocketFrame, reason: String) throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        #expect(throws: FrameValidator.Violation(reason: reason)) { try channel.writeInbound(frame) }
        try channel.writeInbound(Self.frame(.text))
        try channel.writeInbound(Self.frame(.connectionClose))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
    }

    @Test(arguments: [WebSocketOpcode.text, .binary, .continuation, .ping, .pong, .connectionClose])
    func passesMaskedFramesOfEveryKnownOpcode(opcode: WebSocketOpcode) throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(Self.frame(opcode))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == opcode)
    }
}
