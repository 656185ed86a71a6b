import NIOCore
import NIOWebSocket

/// Reads WebSocket frames off the socket like NIO's `WebSocketFrameDecoder`, with the same refusals (a
/// frame over `maxFrameSize`, a control frame over 125 bytes or fragmented), but goes on reading after
/// one: it reports the refusal, skips that frame's payload and decodes the frames after it (a refused close
/// frame is passed on without its payload). NIO's decoder
/// stops for good at its first error, so the client's close frame that answers ours was never read and
/// the closing handshake (RFC 6455 §7.1.1) ended only at the session's timeout.
final class FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = WebSocketFrame

    private let maxFrameSize: Int
    /// Payload bytes of a refused frame still to be dropped before the next frame header.
    private var bytesToSkip = 0

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if bytesToSkip > 0 {
            let skipped = min(bytesToSkip, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: skipped)
            bytesToSkip -= skipped
            return bytesToSkip == 0 ? .continue : .needMoreData
        }
        guard let header = Header(peekingAt: buffer) else { return .needMoreData }
        if let refusal = refusal(of: header) {
            buffer.moveReaderIndex(forwardBy: header.size)
            // A declared length past what memory holds can never be skipped: the session's timeout ends it.
            bytesToSkip = header.length
            context.fireErrorCaught(refusal)
            // A refused close frame is still the client's close: its half of the closing handshake is done.
            if header.opcode == .connectionClose {
                let close = WebSocketFrame(
                    fin: true, opcode: .connectionClose, maskKey: header.maskKey, data: context.channel.allocator.buffer(capacity: 0))
                context.fireChannelRead(wrapInboundOut(close))
            }
            return .continue
        }
        guard buffer.readableBytes >= header.size + header.length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: header.size)
        let data = buffer.readSlice(length: header.length)!
        let frame = WebSocketFrame(
            fin: header.fin, rsv1: header.rsv1, rsv2: header.rsv2, rsv3: header.rsv3, opcode: header.opcode, maskKey: header.maskKey, data: data)
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A frame cut short by the end of the connection means nothing.
        .needMoreData
    }

    private func refusal(of header: Header) -> NIOWebSocketError? {
        if header.length > maxFrameSize { return .invalidFrameLength }
        if header.opcode.isControlOpcode && !header.fin { return .fragmentedControlFrame }
        if header.opcode.isControlOpcode && header.length > 125 { return .multiByteControlFrameLength }
        return nil
    }

    /// A frame header (RFC 6455 §5.2), read without consuming it.
    struct Header {
        let fin, rsv1, rsv2, rsv3: Bool
        let opcode: WebSocketOpcode
        let maskKey: WebSocketMaskingKey?
        /// The payload's length; a 64-bit length past `Int.max` reads as `Int.max`.
        let length: Int
        /// The header's own length in bytes.
        let size: Int

        init?(peekingAt buffer: ByteBuffer) {
            var buffer = buffer
            let start = buffer.readerIndex
            guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self) else { return nil }
            switch second & 0x7F {
            case 126:
                guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
                self.length = Int(length)
            case 127:
                guard let length = buffer.readInteger(as: UInt64.self) else { return nil }
                self.length = Int(clamping: length)
            case let length:
                self.length = Int(length)
            }
            if second & 0x80 != 0 {
                guard let key = buffer.readBytes(length: 4) else { return nil }
                maskKey = WebSocketMaskingKey(key)
            } else {
                maskKey = nil
            }
            (fin, rsv1, rsv2, rsv3) = (first & 0x80 != 0, first & 0x40 != 0, first & 0x20 != 0, first & 0x10 != 0)
            // Every value of the four bits is an opcode to NIO; unknown ones are FrameValidator's to refuse.
            opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!
            size = buffer.readerIndex - start
        }
    }
}
