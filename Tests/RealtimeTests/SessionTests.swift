import Foundation
import LeaderboardCore
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import LeaderboardRealtime

/// The session handler alone, in an `EmbeddedChannel`: no network, no stores (none of these paths reach one).
@Suite struct SessionTests {
    static let config = try! Config(values: [
        "PG_USER": "x", "PG_DB": "x", "PG_PORT": "1", "REDIS_URL": "redis://127.0.0.1:1", "LEADERBOARD_MODE": "development",
    ])
    static let claims = AccessTokenClaims(
        userID: 7, name: "Ann", email: "ann@example.com", issuedAt: nil, expiresAt: UTCDay.nowSeconds + 3600, tokenID: "t")

    let channel = EmbeddedChannel()

    @discardableResult
    func open(_ route: SocketRoute, _ admission: Admission, messagesPerSecond: Int = 20) throws -> Session {
        let logger = Logger(label: "test")
        let workers = StoreWorkers(count: 1, config: Self.config, logger: logger)
        // No stores: every view fails to compute, and would be tried again by the tick, which never runs here.
        let loop = channel.embeddedEventLoop
        let hub = Hub(loop: loop, workers: workers, logger: logger) { _, _ in loop.makeFailedFuture(NoStores()) }
        let session = Session(
            route: route, admission: admission, hub: hub, workers: workers, limits: .init(messagesPerSecond: messagesPerSecond), logger: logger)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        // As the upgrader puts it in front of the session.
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder(), position: .first)
        try channel.pipeline.syncOperations.addHandler(session)
        channel.embeddedEventLoop.run()
        return session
    }

    func send(_ text: String) throws {
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
        channel.embeddedEventLoop.run()
    }

    /// The frames the session wrote, oldest first, read back from the bytes that went to the socket.
    func written() throws -> [WebSocketFrame] {
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder()))
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { try client.writeInbound(bytes) }
        var frames: [WebSocketFrame] = []
        while let frame = try client.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        return frames
    }

    func texts() throws -> [String] {
        try written().filter { $0.opcode == .text }.map { String(buffer: $0.data) }
    }

    func closeCode(_ frames: [WebSocketFrame]) -> WebSocketErrorCode? {
        guard var data = frames.last(where: { $0.opcode == .connectionClose })?.data else { return nil }
        return data.readWebSocketErrorCode()
    }

    @Test func aFrameThatBreaksTheProtocolIsAnsweredWith1002() throws {
        try channel.pipeline.syncOperations.addHandler(FrameValidator())
        try open(.welcome, .anonymous)
        _ = try written()
        try send("an unmasked frame")
        let frames = try written()
        #expect(frames.allSatisfy { $0.opcode != .text }, "nothing is echoed")
        #expect(closeCode(frames) == .protocolError)
    }

    @Test func theWelcomeRouteGreetsAndEchoesWithoutAnAccount() throws {
        try open(.welcome, .anonymous)
        try send("hello")
        #expect(try texts() == ["Welcome to your websocket server", "hello"])
        #expect(channel.isActive)
    }

    @Test(arguments: [SocketRoute.myScore, .addScore])
    func theAccountRoutesCloseWith1008WithoutAToken(route: SocketRoute) throws {
        try open(route, .anonymous)
        #expect(closeCode(try written()) == .policyViolation)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xF0])))
        #expect(!channel.isActive, "closed once the client answered")
    }

    @Test(arguments: [SocketRoute.scores, .reports])
    func theBoardsAndReportsServeAnonymousClients(route: SocketRoute) throws {
        try open(route, .anonymous)
        #expect(closeCode(try written()) == nil)
        #expect(channel.isActive)
        try send(#"{"auth": "a token"}"#)
        #expect(try texts().last?.contains("no account to renew") == true, "nothing to renew on an anonymous socket")
    }

    @Test(arguments: [SocketRoute.scores, .myScore, .addScore, .reports])
    func aTokenThatDoesNotHoldClosesEveryRouteButTheWelcomeWith1008(route: SocketRoute) throws {
        try open(route, .invalidToken(reason: "token expired"))
        #expect(closeCode(try written()) == .policyViolation)
    }

    /// A minute before its token expires the client is told, so it can renew in place; at expiry the socket closes.
    @Test func aSocketIsToldBeforeItsTokenExpiresAndClosedWhenItDoes() throws {
        var claims = Self.claims
        claims.expiresAt = UTCDay.nowSeconds + 70
        try open(.scores, .account(claims, tokenKey: "t"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try texts().isEmpty)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        let notice = try #require(try texts().first)
        #expect(notice.hasPrefix(#"{"event":"token-expiring","in":"#))
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(closeCode(try written()) == .policyViolation)
    }

    @Test func afterItsCloseFrameTheSessionWaitsBoundedlyForTheClientsAndIgnoresAllElse() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        channel.pipeline.fireUserInboundEventTriggered(SessionCommand.goingAway)
        #expect(closeCode(try written()) == .goingAway)
        // A client still sending does not get a reset that would wipe the close frame from its buffers.
        try send("still talking")
        #expect(try written().isEmpty, "no data after the close frame")
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive, "closed anyway when the client never answers")
    }

    @Test func aCloseFromTheClientIsAnsweredWithItsCodeAndCloses() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xE8])))
        #expect(closeCode(try written()) == .normalClosure)
        #expect(!channel.isActive)
    }

    @Test func aFullDaemonClosesWith1013() throws {
        try open(.scores, .refused(.init(codeNumber: 1013), reason: "full"))
        #expect(closeCode(try written()) == .init(codeNumber: 1013))
    }

    @Test func badMessagesGetAnErrorAndTheSocketStaysOpen() throws {
        try open(.scores, .account(Self.claims, tokenKey: "t"))
        for message in [
            "{bad", "[]", #"{"game":"cod","start":0,"end":9,"color":"red"}"#, #"{"game":"cod","start":5,"end":1}"#,
            #"{"game":"cod","start":"0","end":9}"#,
        ] {
            try send(message)
        }
        let errors = try texts().map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        #expect(errors.count == 5)
        #expect(errors.allSatisfy { $0?["error"]?.isEmpty == false })
        #expect(errors[2]?["error"] == "unknown field 'color'")
        #expect(channel.isActive)
    }

    @Test func binaryFramesGetAnError() throws {
        try open(.addScore, .account(Self.claims, tokenKey: "t"))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [0, 1, 2])))
        #expect(try texts().first?.contains("binary frames are not supported") == true)
        #expect(channel.isActive)
    }

    @Test func aMessageTooLargeInFragmentsClosesWith1009() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        // As RealtimeServer puts it in front of the session.
        try channel.pipeline.syncOperations.addHandler(
            NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 16 * 1024),
            position: .first)
        try channel.writeInbound(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(repeating: 0x79, count: 8 * 1024)))
        try channel.writeInbound(WebSocketFrame(fin: false, opcode: .continuation, data: ByteBuffer(repeating: 0x79, count: 8 * 1024)))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(repeating: 0x79, count: 1)))
        #expect(closeCode(try written()) == .messageTooLarge)
    }

    /// The handlers RealtimeServer puts in front of the session, with its limits: bytes in, messages out.
    func addFrameHandlers() throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(
            NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 16 * 1024),
            position: .first)
        try pipeline.addHandler(FrameValidator(), position: .first)
        try pipeline.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: 16 * 1024)), position: .first)
    }

    func sendBytes(_ frames: [ByteBuffer]) throws {
        for frame in frames { try channel.writeInbound(frame) }
        channel.embeddedEventLoop.run()
    }

    static func wire(_ opcode: WebSocketOpcode, _ payload: [UInt8], _ fin: Bool) throws -> ByteBuffer {
        try FrameDecoderTests.wire(opcode, payload, fin: fin)
    }

    @Test func aFrameTooLargeClosesWith1009AndTheRestOfItIsReadNotReset() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try addFrameHandlers()
        // A masked text frame announcing 16 KiB + 1 bytes, and the first bytes of it.
        var bytes = ByteBuffer(bytes: [0x81, 0xFE, 0x40, 0x01, 1, 2, 3, 4])
        bytes.writeRepeatingByte(0x79, count: 1000)
        try channel.writeInbound(bytes)
        #expect(closeCode(try written()) == .messageTooLarge)
        try channel.writeInbound(ByteBuffer(repeating: 0x79, count: 15 * 1024))
        #expect(channel.isActive, "the rest of the frame is read while the client gets the close frame")
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    /// RFC 6455 §7.1.1: after its close frame the server reads on, dropping all but the client's close,
    /// and closes TCP when that arrives, not at its timeout (Autobahn's 2.5, 5.x, 9.x).
    @Test(arguments: [
        ("a ping of 126 bytes", [try! wire(.ping, Array(repeating: 0x70, count: 126), true)], WebSocketErrorCode.protocolError),
        ("a fragmented ping", [try! wire(.ping, [0x70], false)], .protocolError),
        ("a frame over 16 KiB", [try! wire(.text, Array(repeating: 0x61, count: 16 * 1024 + 1), true)], .messageTooLarge),
        (
            "a message over 16 KiB", (0..<17).map { try! wire($0 == 0 ? .text : .continuation, Array(repeating: 0x61, count: 1024), $0 == 16) },
            .messageTooLarge
        ),
        ("a reserved opcode", [try! wire(WebSocketOpcode(encodedWebSocketOpcode: 0x3)!, [0x61], true)], .protocolError),
        ("text that is not UTF-8", [try! wire(.text, [0x61, 0xFF], true)], .dataInconsistentWithMessage),
    ])
    func afterRefusingAFrameTheSessionClosesAsSoonAsTheClientsCloseArrives(label: String, frames: [ByteBuffer], code: WebSocketErrorCode) throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try addFrameHandlers()
        try sendBytes(frames + [try Self.wire(.text, Array("ignored".utf8), true)])
        let answer = try written()
        #expect(closeCode(answer) == code, "\(label)")
        #expect(answer.allSatisfy { $0.opcode == .connectionClose }, "\(label): nothing but the close frame")
        #expect(channel.isActive)
        try sendBytes([try Self.wire(.connectionClose, [0x03, 0xE8], true)])
        #expect(!channel.isActive, "\(label): closed on the client's close, before any timeout")
    }

    /// The client's close is the one refused: the handshake is over once the 1002 is out (Autobahn's 7.3.6).
    @Test func aCloseFrameOver125BytesIsAnsweredWith1002AndTheConnectionClosesAtOnce() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try addFrameHandlers()
        try sendBytes([try Self.wire(.connectionClose, [0x03, 0xE8] + Array(repeating: 0x63, count: 124), true)])
        #expect(closeCode(try written()) == .protocolError)
        #expect(!channel.isActive)
    }

    @Test func aTextMessageThatIsNotUTF8IsRefusedWith1007InTheFragmentThatBringsTheBadByte() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try addFrameHandlers()
        try sendBytes([try Self.wire(.text, Array("κόσμε".utf8), false), try Self.wire(.continuation, [0xED, 0xA0, 0x80], false)])
        let answer = try written()
        #expect(closeCode(answer) == .dataInconsistentWithMessage, "before the message's last fragment")
        #expect(answer.allSatisfy { $0.opcode != .text }, "nothing echoed, no U+FFFD")
    }

    @Test func aTextMessageInFragmentsThatIsUTF8IsEchoedWhole() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try addFrameHandlers()
        let text = Array("κόσμε 😀".utf8)
        try sendBytes([
            try Self.wire(.text, Array(text[0..<2]), false), try Self.wire(.continuation, Array(text[2..<13]), false),
            try Self.wire(.continuation, Array(text[13...]), true),
        ])
        #expect(try texts() == ["κόσμε 😀"])
    }

    /// A close frame that breaks the rules is answered with 1002 (1007 for its reason), never echoed, and
    /// the connection closes at once: the client's half of the handshake is done (Autobahn's 7.3.2, 7.5.1, 7.9.x).
    @Test(
        arguments: [
            ([0x03], WebSocketErrorCode.protocolError), ([0x00, 0x00], .protocolError), ([0x03, 0xE7], .protocolError),
            ([0x03, 0xED], .protocolError), ([0x03, 0xEE], .protocolError), ([0x0B, 0xB7], .protocolError), ([0x13, 0x88], .protocolError),
            ([0x03, 0xE8, 0xFF], .dataInconsistentWithMessage), ([0x0F, 0xA0], .init(codeNumber: 4000)), ([0x03, 0xF3], .init(codeNumber: 1011)),
        ] as [([UInt8], WebSocketErrorCode)])
    func aClientsCloseIsAnsweredWithItsCodeOnlyWhenThatMayBeSent(body: [UInt8], code: WebSocketErrorCode) throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try addFrameHandlers()
        try sendBytes([try Self.wire(.connectionClose, body, true)])
        #expect(closeCode(try written()) == code)
        #expect(!channel.isActive)
    }

    @Test func pingsAreAnsweredWithTheirData() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "beat")))
        let pong = try written().first
        #expect(pong?.opcode == .pong)
        #expect(pong.map { String(buffer: $0.data) } == "beat")
    }

    @Test func everyMessageOverTheRateIsAnsweredWithWhenToRetryAndASustainedFloodIsClosed() throws {
        try open(.welcome, .anonymous, messagesPerSecond: 2)
        _ = try written()
        // The bucket holds two seconds' worth (4); then 5 s worth of refusals (10) are answered, one by one.
        for index in 0..<15 { try send("m\(index)") }
        let frames = try written()
        let texts = frames.filter { $0.opcode == .text }.map { String(buffer: $0.data) }
        #expect(Array(texts.prefix(4)) == ["m0", "m1", "m2", "m3"])
        let refusals = texts.dropFirst(4).map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(refusals.count == 10)
        #expect(refusals.allSatisfy { ($0?["error"] as? String)?.contains("too many messages") == true && ($0?["retryAfter"] as? Int) == 1 })
        #expect(closeCode(frames) == .policyViolation, "closed at the 11th refusal in a row")
    }

    @Test func aClientThatFallsBehindGetsOnlyTheLatestViewUpdate() throws {
        let session = try open(.scores, .account(Self.claims, tokenKey: "t"))
        try send(#"{"game":"cod","start":0,"end":9}"#)
        let view = Hub.View.board(BoardView(game: "cod", period: .allTime, date: nil, start: 0, end: 9))
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        for version in 1...5 { session.receive(ViewUpdate(view: view, text: "v\(version)".utf8)) }
        #expect(try texts().isEmpty, "nothing is written while the client is behind")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(try texts() == ["v5"])
    }

    @Test func aClientIsDroppedOnlyAfterStayingBehindForTheWholeTimeout() throws {
        try open(.welcome, .anonymous)
        func behind(_ isBehind: Bool, for seconds: Int64) {
            channel.isWritable = !isBehind
            channel.pipeline.fireChannelWritabilityChanged()
            channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
        }
        behind(true, for: 9)
        behind(false, for: 0)
        behind(true, for: 9)
        #expect(channel.isActive, "behind twice, never for 10 s in a row")
        behind(false, for: 30)
        #expect(channel.isActive)
        behind(true, for: 10)
        #expect(!channel.isActive)
    }

    @Test func aPushThatFindsThePreviousOneUnwrittenIsHeldBackAndStartsTheSlowClientClock() throws {
        let session = try open(.scores, .account(Self.claims, tokenKey: "t"))
        try send(#"{"game":"cod","start":0,"end":9}"#)
        let view = Hub.View.board(BoardView(game: "cod", period: .allTime, date: nil, start: 0, end: 9))
        // The socket's send buffer is full: it takes nothing more, though the channel still says writable.
        let socket = FullSocket()
        try channel.pipeline.syncOperations.addHandler(socket, position: .first)
        for version in 1...5 { session.receive(ViewUpdate(view: view, text: "v\(version)".utf8)) }
        #expect(socket.held.count == 1, "one push waits in the socket, the newest of the rest in the session")
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        socket.makeRoom()
        #expect(try texts() == ["v1", "v5"], "once there is room, the newest update follows")
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive, "caught up: the clock stopped")

        socket.fill()
        session.receive(ViewUpdate(view: view, text: "v6".utf8))
        session.receive(ViewUpdate(view: view, text: "v7".utf8))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!channel.isActive, "dropped after 10 s behind, however writable the channel says it is")
    }

    @Test func updatesOfAViewNoLongerWatchedAreDropped() throws {
        let session = try open(.scores, .account(Self.claims, tokenKey: "t"))
        try send(#"{"game":"cod","start":0,"end":9}"#)
        try send(#"{"game":"ow","start":0,"end":9,"period":"daily"}"#)
        let old = Hub.View.board(BoardView(game: "cod", period: .allTime, date: nil, start: 0, end: 9))
        let current = Hub.View.board(BoardView(game: "ow", period: .daily, date: nil, start: 0, end: 9))
        session.receive(ViewUpdate(view: old, text: "old".utf8))
        session.receive(ViewUpdate(view: current, text: "new".utf8))
        #expect(try texts() == ["new"])
    }

    @Test func shutdownClosesWith1001AndRevocationWith1008() throws {
        try open(.myScore, .account(Self.claims, tokenKey: "t"))
        channel.pipeline.fireUserInboundEventTriggered(SessionCommand.goingAway)
        #expect(closeCode(try written()) == .goingAway)

        let second = SessionTests()
        try second.open(.myScore, .account(Self.claims, tokenKey: "t"))
        second.channel.pipeline.fireUserInboundEventTriggered(SessionCommand.revoked)
        #expect(second.closeCode(try second.written()) == .policyViolation)
    }

    @Test func anExpiredTokenClosesTheSocketWhenItExpires() throws {
        var claims = Self.claims
        claims.expiresAt = UTCDay.nowSeconds + 30
        try open(.myScore, .account(claims, tokenKey: "t"))
        _ = try written()
        // The session reads the wall clock (whole seconds) again when it opens: a second may have begun since.
        channel.embeddedEventLoop.advanceTime(by: .seconds(28))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(closeCode(try written()) == .policyViolation)
    }

    @Test func aSilentClientIsPingedThenDropped() throws {
        try open(.welcome, .anonymous)
        _ = try written()
        channel.embeddedEventLoop.advanceTime(by: .seconds(25))
        #expect(try written().map(\.opcode) == [.ping])
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .pong, data: ByteBuffer()))
        channel.embeddedEventLoop.advanceTime(by: .seconds(50))
        #expect(try written().map(\.opcode) == [.ping, .ping])
        #expect(channel.isActive, "a pong keeps the client")
        channel.embeddedEventLoop.advanceTime(by: .seconds(25))
        #expect(!channel.isActive)
    }
}

struct NoStores: Error {}

/// Stands for a socket's send buffer: while full, it holds every write (its promise unfulfilled).
final class FullSocket: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private(set) var held: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var isFull = true
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if isFull {
            held.append((unwrapOutboundIn(data), promise))
        } else {
            context.write(data, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        if !isFull { context.flush() }
    }

    /// The client read everything: what was held goes out, and so does all that follows, until `fill`.
    func makeRoom() {
        guard let context else { return }
        isFull = false
        let writes = held
        held.removeAll()
        for (buffer, promise) in writes { context.write(wrapOutboundOut(buffer), promise: promise) }
        context.flush()
    }

    func fill() {
        isFull = true
    }
}

@Suite struct ClientMessageTests {
    let today = UTCDay(iso: "2026-11-29")!

    @Test func readsThePredecessorsShapes() {
        #expect(
            ClientMessage.parse(#"{"channel":"all","start":0,"end":4}"#, route: .scores, today: today)
                == .success(.watch(BoardView(game: "all", period: .allTime, date: nil, start: 0, end: 4))))
        #expect(
            ClientMessage.parse(#"{"score":50,"gameChannel":"cod"}"#, route: .addScore, today: today) == .success(.submit(game: "cod", score: 50)))
        #expect(
            ClientMessage.parse(#"{"start":"2026-11-01T00:00:00Z","end":"2026-11-29","limit":4}"#, route: .reports, today: today)
                == .success(.report(from: UTCDay(iso: "2026-11-01")!, to: today, limit: 4, game: "all")))
    }

    @Test func readsPeriodsAndDates() {
        #expect(
            ClientMessage.parse(#"{"game":"cod","start":10,"end":19,"period":"weekly","date":"2026-11-02"}"#, route: .scores, today: today)
                == .success(.watch(BoardView(game: "cod", period: .weekly, date: UTCDay(iso: "2026-11-02"), start: 10, end: 19))))
    }

    @Test(arguments: [
        (#"{"game":"cod","start":0,"end":100}"#, SocketRoute.scores), (#"{"game":"cod","start":0,"end":9,"period":"yearly"}"#, .scores),
        (#"{"game":"cod","start":0,"end":9,"date":"yesterday"}"#, .scores), (#"{"score":"5","game":"cod"}"#, .addScore),
        (#"{"score":5.5,"game":"cod"}"#, .addScore), (#"{"start":"nope"}"#, .reports), (#"{"start":"2026-01-01","limit":"3"}"#, .reports),
        (#"{"game":"cod","start":2147483648,"end":2147483648}"#, .scores),
        (#"{"game":"cod","start":9223372036854775807,"end":9223372036854775807}"#, .scores),
    ])
    func refusesBadValues(text: String, route: SocketRoute) {
        guard case .failure(let error) = ClientMessage.parse(text, route: route, today: today) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(!error.text.isEmpty)
    }

    @Test func routesIgnoreQueriesAndTrailingSlashes() {
        #expect(SocketRoute(uri: "/ws/v1/") == .welcome)
        #expect(SocketRoute(uri: "/ws/v1/scores/?x=1") == .scores)
        #expect(SocketRoute(uri: "/ws/v1/nope") == nil)
    }
}
