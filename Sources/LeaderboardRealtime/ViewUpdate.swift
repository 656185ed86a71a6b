import NIOCore

/// New content of the view a session watches, as the text frame its watchers get: header and payload in
/// one buffer, built once per push and written as is to every socket (no encoding, one iovec per write).
struct ViewUpdate: Sendable {
    let view: Hub.View
    let frame: ByteBuffer

    init(view: Hub.View, text: some Collection<UInt8>) {
        self.view = view
        frame = Self.makeTextFrame(text)
    }

    private init(view: Hub.View, frame: ByteBuffer) {
        self.view = view
        self.frame = frame
    }

    /// The same update in a buffer of its own, for one event loop's sessions: were the loops to share one,
    /// each write's retain and release of its storage would move the count's cache line between cores.
    func copied() -> ViewUpdate {
        var copy = ByteBufferAllocator().buffer(capacity: frame.readableBytes)
        copy.writeImmutableBuffer(frame)
        return ViewUpdate(view: view, frame: copy)
    }

    /// An unmasked, final text frame (RFC 6455 §5.2), as a server sends it.
    static func makeTextFrame(_ text: some Collection<UInt8>) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.reserveCapacity(text.count + 10)
        frame.writeInteger(UInt8(0x81))
        switch text.count {
        case 0...125:
            frame.writeInteger(UInt8(text.count))
        case 126...Int(UInt16.max):
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(text.count))
        default:
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(text.count))
        }
        frame.writeBytes(text)
        return frame
    }
}

/// The view a session watched can never be shown (an unknown game, say).
struct ViewFailed: Sendable {
    let view: Hub.View
    let message: String
}
