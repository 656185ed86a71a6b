import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import LeaderboardRealtime

/// Frames off the wire: NIO's rules on sizes, but the frames after a refused one are still read.
@Suite struct FrameDecoderTests {
    static let maxFrameSize = 16 * 1024

    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)))

    /// A client's frame as it goes on the wire, masked.
    static func wire(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) throws -> ByteBuffer {
        let encoder = EmbeddedChannel(handler: WebSocketFrameEncoder())
        let frame = WebSocketFrame(fin: fin, opcode: opcode, maskKey: WebSocketMaskingKey([9, 8, 7, 6]), data: ByteBuffer(bytes: payload))
        try encoder.writeOutbound(frame)
        var bytes = ByteBuffer()
        while var part = try encoder.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        return bytes
    }

    func frames() throws -> [WebSocketFrame] {
        var frames: [WebSocketFrame] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        return frames
    }

    @Test func decodesFramesThatArriveAByteAtATime() throws {
        var bytes = try Self.wire(.text, Array("hello".utf8), fin: false)
        var rest = try Self.wire(.continuation, Array(repeating: 0x61, count: 300))
        bytes.writeBuffer(&rest)
        while let byte = bytes.readSlice(length: 1) { try channel.writeInbound(byte) }
        let frames = try frames()
        #expect(frames.map(\.opcode) == [.text, .continuation])
        #expect(frames.map(\.fin) == [false, true])
        #expect(frames.map { String(buffer: $0.unmaskedData) } == ["hello", String(repeating: "a", count: 300)])
        #expect(frames.allSatisfy { $0.maskKey != nil }, "masked, for the validator to see")
    }

    @Test(arguments: [
        (try! wire(.ping, Array(repeating: 0x70, count: 126)), NIOWebSocketError.multiByteControlFrameLength),
        (try! wire(.ping, [0x70], fin: false), .fragmentedControlFrame),
        (try! wire(.text, Array(repeating: 0x61, count: maxFrameSize + 1)), .invalidFrameLength),
        (try! wire(.binary, Array(repeating: 0x62, count: 3 * maxFrameSize)), .invalidFrameLength),
    ])
    func readsTheFrameAfterARefusedOne(refused: ByteBuffer, error: NIOWebSocketError) throws {
        var bytes = refused
        var close = try Self.wire(.connectionClose, [0x03, 0xE8])
        bytes.writeBuffer(&close)
        #expect(throws: error) { try channel.writeInbound(bytes) }
        #expect(try frames().map(\.opcode) == [.connectionClose], "only the frame after the refused one")
    }

    @Test func passesARefusedCloseFrameOnWithoutItsBodyForTheClosingHandshake() throws {
        var bytes = try Self.wire(.connectionClose, [0x03, 0xE8] + Array(repeating: 0x63, count: 124))
        var ping = try Self.wire(.ping, [])
        bytes.writeBuffer(&ping)
        #expect(throws: NIOWebSocketError.multiByteControlFrameLength) { try channel.writeInbound(bytes) }
        let frames = try frames()
        #expect(frames.map(\.opcode) == [.connectionClose, .ping])
        #expect(frames.first?.data.readableBytes == 0)
    }

    @Test func skipsARefusedFramesPayloadAsItArrives() throws {
        var bytes = try Self.wire(.text, Array(repeating: 0x61, count: 100_000))
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try channel.writeInbound(bytes.readSlice(length: 1000)!) }
        while bytes.readableBytes > 0 { try channel.writeInbound(bytes.readSlice(length: min(bytes.readableBytes, 8192))!) }
        try channel.writeInbound(Self.wire(.ping, Array("after".utf8)))
        #expect(try frames().map { String(buffer: $0.unmaskedData) } == ["after"])
    }

    @Test(arguments: [UInt64(Int.max), UInt64.max])
    func aLengthPastWhatMemoryHoldsIsRefusedNotTrapped(length: UInt64) throws {
        var header = ByteBuffer(bytes: [0x81, 0xFF])
        header.writeInteger(length)
        header.writeBytes([9, 8, 7, 6])
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try channel.writeInbound(header) }
        try channel.writeInbound(ByteBuffer(repeating: 0x61, count: 1000))
        #expect(try frames().isEmpty, "the rest is its payload")
    }
}
