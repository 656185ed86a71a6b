import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import LeaderboardRealtime

/// RFC 6455 §5.1–5.2, §7.4 and §8.1: what a server must fail the connection on, checked frame by frame.
@Suite struct FrameValidatorTests {
    static let mask = WebSocketMaskingKey([1, 2, 3, 4])!

    static func frame(
        _ opcode: WebSocketOpcode = .text, masked: Bool = true, rsv1: Bool = false, rsv3: Bool = false, fin: Bool = true,
        bytes: [UInt8] = Array("{}".utf8)
    ) -> WebSocketFrame {
        var data = ByteBuffer(bytes: bytes)
        if masked { data.webSocketMask(mask) }
        return WebSocketFrame(fin: fin, rsv1: rsv1, rsv3: rsv3, opcode: opcode, maskKey: masked ? mask : nil, data: data)
    }

    static func close(code: UInt16, reason: [UInt8] = []) -> WebSocketFrame {
        frame(.connectionClose, bytes: [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
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
        #expect(throws: FrameValidator.Violation.protocolError(reason)) { try channel.writeInbound(frame) }
        try channel.writeInbound(Self.frame(.text))
        try channel.writeInbound(Self.close(code: 1000))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
    }

    @Test(arguments: [WebSocketOpcode.text, .binary, .continuation, .ping, .pong, .connectionClose])
    func passesMaskedFramesOfEveryKnownOpcode(opcode: WebSocketOpcode) throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(opcode == .connectionClose ? Self.close(code: 1000) : Self.frame(opcode))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == opcode)
    }
}

/// RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007, in the fragment that
/// brings the bad byte (Autobahn's 6.x).
@Suite struct FrameValidatorTextTests {
    typealias Frames = FrameValidatorTests
    static let notUTF8 = FrameValidator.Violation.invalidText("text that is not UTF-8")

    @Test(
        arguments: [
            [0xFF], [0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
            [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64],
            [0xE2, 0x82],
        ] as [[UInt8]])
    func refusesATextFrameThatIsNotUTF8(bytes: [UInt8]) throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        #expect(throws: Self.notUTF8) { try channel.writeInbound(Frames.frame(bytes: bytes)) }
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil)
    }

    @Test func refusesTheFragmentThatBringsTheBadByteBeforeTheMessageEnds() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(Frames.frame(fin: false, bytes: Array("κόσμε".utf8)))
        #expect(throws: Self.notUTF8) { try channel.writeInbound(Frames.frame(.continuation, fin: false, bytes: [0xF4, 0x90, 0x80, 0x80])) }
        try channel.writeInbound(Frames.frame(.continuation, bytes: Array("edited".utf8)))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .text)
        #expect(try channel.readInbound(as: WebSocketFrame.self) == nil, "nothing after the bad fragment")
    }

    @Test func refusesAMessageThatEndsInsideACharacter() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(Frames.frame(fin: false, bytes: [0x61, 0xE2]))
        #expect(throws: Self.notUTF8) { try channel.writeInbound(Frames.frame(.continuation, bytes: [0x82])) }
    }

    @Test func passesACharacterSplitAcrossFragmentsWithAPingBetween() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        let euro: [UInt8] = [0xE2, 0x82, 0xAC]
        try channel.writeInbound(Frames.frame(fin: false, bytes: [euro[0]]))
        try channel.writeInbound(Frames.frame(.ping, bytes: [0xFF]))
        try channel.writeInbound(Frames.frame(.continuation, fin: false, bytes: [euro[1]]))
        try channel.writeInbound(Frames.frame(.continuation, bytes: [euro[2]]))
        try channel.writeInbound(Frames.frame(bytes: Array("next 😀".utf8)))
        let opcodes = try (0..<5).map { _ in try channel.readInbound(as: WebSocketFrame.self)?.opcode }
        #expect(opcodes == [.text, .ping, .continuation, .continuation, .text])
    }

    @Test func leavesBinaryMessagesAlone() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(Frames.frame(.binary, fin: false, bytes: [0xFF]))
        try channel.writeInbound(Frames.frame(.continuation, bytes: [0xC0, 0x80]))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .binary)
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .continuation)
    }
}

/// RFC 6455 §5.5.1 and §7.4: what a client's close frame may hold (Autobahn's 7.3.2, 7.5.1, 7.7.x, 7.9.x).
@Suite struct FrameValidatorCloseTests {
    typealias Frames = FrameValidatorTests

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func refusesACloseCodeNoEndpointMaySendAndPassesTheCloseFrameOn(code: UInt16) throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        #expect(throws: FrameValidator.Violation.protocolError("close code \(code) may not be sent")) {
            try channel.writeInbound(Frames.close(code: code))
        }
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .connectionClose, "the client's half of the handshake")
    }

    @Test func refusesACloseBodyOfOneByte() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        #expect(throws: FrameValidator.Violation.protocolError("a close frame's body is a code of 2 bytes")) {
            try channel.writeInbound(Frames.frame(.connectionClose, bytes: [0x03]))
        }
    }

    @Test func refusesACloseReasonThatIsNotUTF8With1007() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        #expect(throws: FrameValidator.Violation.invalidText("the close reason is not UTF-8")) {
            try channel.writeInbound(Frames.close(code: 1000, reason: [0xCE, 0xBA, 0xED, 0xA0, 0x80]))
        }
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] as [UInt16])
    func passesEveryCodeThatMayBeSentWithAUTF8Reason(code: UInt16) throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(Frames.close(code: code, reason: Array("bye κόσμε".utf8)))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
    }

    @Test func passesAnEmptyClose() throws {
        let channel = EmbeddedChannel(handler: FrameValidator())
        try channel.writeInbound(Frames.frame(.connectionClose, bytes: []))
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
    }
}
