import LeaderboardCore
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import LeaderboardRealtime

/// The hub with sessions on two event loops, all driven by hand on this thread; the test plays the
/// stores and completes each computation of a view when it chooses.
@Suite struct HubTests {
    static let claims = AccessTokenClaims(
        userID: 7, name: "Ann", email: "ann@example.com", issuedAt: nil, expiresAt: UTCDay.nowSeconds + 3600, tokenID: "t")
    static let event = BoardEvent(game: "cod", userId: 8, periods: ["all"], totalBefore: nil, totalAfter: nil, at: nil)

    let hubLoop = EmbeddedEventLoop()
    let sessionLoops = [EmbeddedEventLoop(), EmbeddedEventLoop()]
    /// Computations asked for, in order; each completes when the test says.
    let computations = Locked<[EventLoopPromise<(text: [UInt8], total: Int?)>]>([])
    let workers = StoreWorkers(count: 1, config: SessionTests.config, logger: Logger(label: "test"))
    let hub: Hub

    init() {
        let (hubLoop, computations) = (hubLoop, computations)
        hub = Hub(loop: hubLoop, workers: workers, logger: Logger(label: "test")) { _, _ in
            let promise = hubLoop.makePromise(of: (text: [UInt8], total: Int?).self)
            computations.withLock { $0.append(promise) }
            return promise.futureResult
        }
    }

    var computationCount: Int { computations.withLock { $0.count } }

    /// Runs what the loops have to do, events held back by the hub's apply interval included.
    func runLoops() {
        for _ in 0..<3 {
            hubLoop.advanceTime(by: Hub.applyInterval)
            for loop in sessionLoops { loop.run() }
        }
    }

    /// Completes the computation with this number (from 1) with `text`.
    func complete(_ number: Int, with text: String) {
        computations.withLock { $0[number - 1] }.succeed((Array(text.utf8), nil))
        runLoops()
    }

    /// A session watching the cod board, on the given loop.
    func makeWatcher(on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        let session = Session(
            route: .scores, admission: .account(Self.claims, tokenKey: "t"), hub: hub, workers: workers,
            limits: .init(messagesPerSecond: 20), logger: Logger(label: "test"))
        // The encoder as the upgrader puts it in front of the session.
        try channel.pipeline.syncOperations.addHandlers([WebSocketFrameEncoder(), session])
        try ask(channel)
        return channel
    }

    /// The session of `channel` asks for the cod board (again).
    func ask(_ channel: EmbeddedChannel) throws {
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: #"{"game":"cod","start":0,"end":9}"#)))
        runLoops()
    }

    /// What went to the channel's socket since last asked, and the texts of the frames in it.
    func pushes(_ channel: EmbeddedChannel) throws -> (texts: [String], bytes: [ByteBuffer]) {
        var bytes: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes.append(buffer) }
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder()))
        for buffer in bytes { try client.writeInbound(buffer) }
        var texts: [String] = []
        while let frame = try client.readInbound(as: WebSocketFrame.self) {
            #expect(frame.opcode == .text && frame.fin)
            texts.append(String(buffer: frame.data))
        }
        return (texts, bytes)
    }

    @Test func aPushReachesEveryWatcherOnEveryLoopWithTheSameBytes() throws {
        let channels = try (0..<4).map { try makeWatcher(on: sessionLoops[$0 % 2]) }
        #expect(computationCount == 1, "one computation at a time")
        complete(1, with: #"{"n":1}"#)
        #expect(computationCount == 2, "one more, started after they asked, for all who asked while the first ran")
        complete(2, with: #"{"n":1}"#)
        for channel in channels { #expect(try pushes(channel).texts == [#"{"n":1}"#], "each answered once") }

        hub.publish([Self.event])
        runLoops()
        complete(3, with: #"{"n":2}"#)
        let pushed = try channels.map { try pushes($0) }
        #expect(pushed.allSatisfy { $0.texts == [#"{"n":2}"#] })
        #expect(pushed.allSatisfy { $0.bytes == pushed[0].bytes }, "one frame, written as is to every socket")
    }

    /// Sessions of one loop share the loop's buffer; two loops never share one, so the writes on two cores
    /// do not both retain and release the same storage.
    @Test func eachLoopWritesThePushFromABufferOfItsOwn() throws {
        let channels = try (0..<4).map { try makeWatcher(on: sessionLoops[$0 % 2]) }
        complete(1, with: #"{"n":1}"#)
        complete(2, with: #"{"n":1}"#)
        for channel in channels { _ = try pushes(channel) }
        hub.publish([Self.event])
        runLoops()
        complete(3, with: #"{"n":2}"#)
        func storage(_ channel: EmbeddedChannel) throws -> UnsafeRawPointer? {
            try pushes(channel).bytes.first?.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) }
        }
        let addresses = try channels.map { try storage($0) }
        #expect(addresses.allSatisfy { $0 != nil })
        #expect(addresses[0] == addresses[2] && addresses[1] == addresses[3], "one buffer per loop")
        #expect(addresses[0] != addresses[1], "not one for both loops")
    }

    @Test func eventsThatArriveWhileAViewIsComputedMakeOneMoreComputation() throws {
        let channel = try makeWatcher(on: sessionLoops[0])
        complete(1, with: #"{"n":1}"#)

        hub.publish([Self.event])
        runLoops()
        #expect(computationCount == 2, "computed as soon as the event arrived")
        for _ in 0..<5 { hub.publish([Self.event]) }
        runLoops()
        #expect(computationCount == 2, "not again while it is computed")
        complete(2, with: #"{"n":2}"#)
        #expect(computationCount == 3, "once more for the events that came meanwhile")
        complete(3, with: #"{"n":3}"#)
        #expect(computationCount == 3)
        #expect(try pushes(channel).texts == [#"{"n":1}"#, #"{"n":2}"#, #"{"n":3}"#])
    }

    @Test func unchangedContentIsNotPushedAgain() throws {
        let channel = try makeWatcher(on: sessionLoops[1])
        complete(1, with: #"{"n":1}"#)
        hub.publish([Self.event])
        runLoops()
        complete(2, with: #"{"n":1}"#)
        #expect(try pushes(channel).texts == [#"{"n":1}"#])
    }

    /// A session that asks for a view already shown is answered by a new computation, not by what the hub showed
    /// before: a score acknowledged before it asked may not have reached the hub as an event yet.
    @Test func aSessionThatAsksForAViewShownAlreadyGetsANewComputation() throws {
        let watcher = try makeWatcher(on: sessionLoops[0])
        complete(1, with: #"{"n":1}"#)

        let newcomer = try makeWatcher(on: sessionLoops[1])
        #expect(computationCount == 2, "computed again, though the view is shown already and no event came")
        complete(2, with: #"{"n":2}"#)
        #expect(try pushes(newcomer).texts == [#"{"n":2}"#])
        #expect(try pushes(watcher).texts == [#"{"n":1}"#, #"{"n":2}"#], "the change reaches those watching already")

        try ask(watcher)
        #expect(computationCount == 3, "asking again is answered the same way")
        complete(3, with: #"{"n":2}"#)
        #expect(try pushes(watcher).texts == [#"{"n":2}"#], "the answer, though nothing changed")
        #expect(try pushes(newcomer).texts == [], "nothing for those who did not ask: nothing changed")
    }
}
