import LeaderboardCore
import Logging
import Metrics
import NIOCore
import NIOWebSocket

/// Who a connection is, settled at the upgrade.
enum Admission: Sendable {
    case account(AccessTokenClaims, tokenKey: String)
    case anonymous
    /// A token that does not hold: closed with 1008, so the client learns its session is gone (the welcome route
    /// serves it anonymously).
    case invalidToken(reason: String)
    /// Closed at once with this code: the daemon is full, or the stores could not check the token.
    case refused(WebSocketErrorCode, reason: String)
}

/// One WebSocket connection after the upgrade: reads the client's messages, answers them, and passes
/// on the updates of the view it watches. Runs on its channel's event loop; store calls go to the workers.
final class Session: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Limits: Sendable {
        var messagesPerSecond: Int
        /// Ping a client silent for this long; nginx drops a proxied socket after 60 s without data.
        var pingInterval = TimeAmount.seconds(25)
        /// Drop a client that answered none of this many pings in a row.
        var unansweredPingLimit = 2
        /// Drop a client that takes in nothing for this long while a push waits for it: the clock starts when
        /// a push finds the one before still unwritten (the socket's bounded send buffer is full).
        var slowClientTimeout = TimeAmount.seconds(10)
        /// After our close frame, wait this long for the client's before closing the connection anyway.
        var closeReplyTimeout = TimeAmount.seconds(2)
    }

    static let welcome = "Welcome to your websocket server"
    /// How long before its token expires a socket is told so (`token-expiring`), time enough to renew it in place.
    static let expiryNoticeSeconds: Int64 = 60

    private let route: SocketRoute
    private let admission: Admission
    private let hub: Hub
    private let workers: StoreWorkers
    private let limits: Limits
    private let logger: Logger

    /// This handler's context, and that of NIO's frame encoder in front of it, while the handler is in the
    /// pipeline: the hub's ready frames are written at the encoder's, from where they go to the socket as is.
    private var context: ChannelHandlerContext?
    private var encoderContext: ChannelHandlerContext?
    /// The account and token of the socket; a renewal replaces them.
    private var account: (claims: AccessTokenClaims, tokenKey: String)?
    /// The token's expiry notice and its expiry, scheduled again by each renewal.
    private var expiryTimers: [Scheduled<Void>] = []
    private var watching: Hub.View?
    /// The newest view update not yet written because the client is behind; older ones are dropped.
    private var pendingUpdate: ByteBuffer?
    /// Whether the last push written is still waiting for room in the socket: the next one is held back, so a
    /// client that reads nothing holds at most one push in our buffers and one in `pendingUpdate`.
    private var isPushUnwritten = false
    /// Whether the channel takes writes, as `channelWritabilityChanged` last said: a push reads this flag
    /// instead of going through the context to the channel's atomic, for each of thousands of sessions.
    private var isWritable = true
    /// Heartbeats since the client last sent anything.
    private var silentBeats = 0
    private var messageAllowance: MessageAllowance
    private var timers: [Scheduled<Void>] = []
    /// Set while the client is behind (a push is held back, or the channel is not writable): drops it when it
    /// stays behind too long.
    private var slowClientTimer: Scheduled<Void>?
    private var pinger: RepeatedTask?
    private var isClosing = false

    init(route: SocketRoute, admission: Admission, hub: Hub, workers: StoreWorkers, limits: Limits, logger: Logger) {
        self.route = route
        self.admission = admission
        self.hub = hub
        self.workers = workers
        self.limits = limits
        self.logger = logger
        messageAllowance = MessageAllowance(perSecond: limits.messagesPerSecond, now: .now())
        if case .account(let claims, let tokenKey) = admission { account = (claims, tokenKey) }
    }

    private var claims: AccessTokenClaims? { account?.claims }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let encoderContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self) else {
            preconditionFailure("a session needs NIO's WebSocket frame encoder in front of it, as the upgrader puts it")
        }
        self.context = context
        self.encoderContext = encoderContext
        let channel = context.channel
        isWritable = channel.isWritable
        switch admission {
        case .refused(let code, let reason):
            return close(context, code: code, reason: reason)
        case .invalidToken(let reason) where route != .welcome:
            return close(context, code: .policyViolation, reason: reason)
        case .anonymous where route.needsAccount:
            return close(context, code: .policyViolation, reason: "authentication required")
        case .account(_, let tokenKey):
            hub.track(channel: channel, tokenKey: tokenKey)
            scheduleExpiry(context)
        case .anonymous, .invalidToken:
            break
        }
        pinger = context.eventLoop.scheduleRepeatedTask(initialDelay: limits.pingInterval, delay: limits.pingInterval) { _ in
            channel.pipeline.fireUserInboundEventTriggered(Heartbeat())
        }
        switch route {
        case .welcome: send(context, text: Self.welcome)
        case .myScore: watch(.standing(userId: claims!.userID), context: context)
        default: break
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        encoderContext = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        hub.forget(channel: context.channel)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        silentBeats = 0
        if isClosing {
            // Our close frame is out: only the client's answer to it matters now.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        switch frame.opcode {
        case .text:
            guard admitMessage(context) else { return }
            var data = frame.unmaskedData
            handle(data.readString(length: data.readableBytes) ?? "", context: context)
        case .binary:
            guard admitMessage(context) else { return }
            sendError(context, "binary frames are not supported; send JSON text")
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            close(context, code: code, reason: "", awaitingReply: false)
        default:
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let reply as Reply:
            send(context, buffer: reply.text)
        case let command as SessionCommand:
            switch command {
            case .goingAway: close(context, code: .goingAway, reason: "server shutting down")
            case .revoked: close(context, code: .policyViolation, reason: "token expired or revoked")
            }
        case is ExpiryNotice:
            guard let claims else { return }
            sendTokenEvent(context, "token-expiring", expiresAt: claims.expiresAt)
        case let renewal as Renewal:
            renew(context, renewal.result)
        case is Heartbeat:
            silentBeats += 1
            if silentBeats > limits.unansweredPingLimit {
                context.close(promise: nil)
            } else {
                context.writeAndFlush(
                    wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0))), promise: nil)
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        isWritable = context.channel.isWritable
        if isWritable {
            writePendingUpdate()
        } else {
            startSlowClientClock()
        }
        context.fireChannelWritabilityChanged()
    }

    /// New content of the watched view, from the hub, on this session's loop.
    func receive(_ update: ViewUpdate) {
        guard update.view == watching else { return }
        if isWritable && !isPushUnwritten && encoderContext != nil {
            write(frame: update.frame)
        } else {
            pendingUpdate = update.frame
            startSlowClientClock()
        }
    }

    /// The watched view can never be shown, from the hub, on this session's loop.
    func receive(_ failure: ViewFailed) {
        guard failure.view == watching, let context else { return }
        watching = nil
        sendError(context, failure.message)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("websocket error", metadata: ["error": "\(error)"])
        // After our close frame, what the client still sends may break the rules again: only its close matters.
        guard !isClosing else { return }
        // Tell the client why it is closed: the frame decoder in front checks each frame, the aggregator
        // a message sent in fragments.
        switch error {
        case NIOWebSocketError.invalidFrameLength, NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge:
            close(context, code: .messageTooLarge, reason: "message too large")
        case let violation as FrameValidator.Violation:
            close(context, code: violation.code, reason: violation.reason)
        case NIOWebSocketFrameAggregator.Error.tooManyFragments, NIOWebSocketFrameAggregator.Error.nonFinalFragmentSizeIsTooSmall:
            close(context, code: .policyViolation, reason: "too many fragments")
        case is NIOWebSocketError, is NIOWebSocketFrameAggregator.Error:
            close(context, code: .protocolError, reason: "malformed frames")
        default:
            context.close(promise: nil)
        }
    }

    // MARK: - Messages

    private func handle(_ text: String, context: ChannelHandlerContext) {
        Counter(label: "leaderboard_ws_messages_total", dimensions: [("route", route.rawValue)]).increment()
        switch ClientMessage.parse(text, route: route, today: .today) {
        case .failure(let error):
            sendError(context, error.text)
        case .success(.echo(let text)):
            send(context, text: text)
        case .success(.watch(let view)):
            watch(.board(view), context: context)
        case .success(.refreshStanding):
            watch(.standing(userId: claims!.userID), context: context)
        case .success(.submit(let game, let score)):
            // The statement that stores the score refuses a token revoked since the socket opened, as it does over REST.
            let (claims, tokenKey) = account!
            answer(context) { store in
                switch try store.leaderboard.submit(
                    userId: claims.userID, name: claims.name, game: game, score: score, idempotencyKey: nil, unlessRevoked: tokenKey)
                {
                case .applied(let result): try JSONCoding.encode(SubmissionPush(result))
                case .queued(let queued): try JSONCoding.encode(QueuedPush(game: queued.game, score: queued.score))
                }
            }
        case .success(.renew(let token)):
            guard account != nil else { return sendError(context, "this socket has no account to renew; open it with a token") }
            let channel = context.channel
            workers.run(on: context.eventLoop) { store in try store.socketAccount(token: token) }.whenComplete { result in
                channel.pipeline.fireUserInboundEventTriggered(Renewal(result: result))
            }
        case .success(.report(let from, let to, let limit, let game)):
            answer(context) { store in
                try JSONCoding.encode(ReportPush(result: try store.leaderboard.report(from: from, to: to, game: game, limit: limit, today: .today)))
            }
        }
    }

    /// Takes a renewed token of the same account: the socket keeps its views and now expires with the new token. A
    /// token of another account closes it; one that does not hold is refused, and the socket keeps its token.
    private func renew(_ context: ChannelHandlerContext, _ result: Result<SocketAccount, any Error>) {
        guard !isClosing, let current = account else { return }
        switch result {
        case .success(let renewed):
            guard renewed.claims.userID == current.claims.userID else {
                return close(context, code: .policyViolation, reason: "the token is another account's")
            }
            account = (renewed.claims, renewed.tokenKey)
            hub.track(channel: context.channel, tokenKey: renewed.tokenKey)
            scheduleExpiry(context)
            sendTokenEvent(context, "token-renewed", expiresAt: renewed.claims.expiresAt)
        case .failure(let error):
            sendError(context, SocketFailure(error).errorText)
        }
    }

    /// Tells the client a minute before its token expires, and closes the socket with 1008 when it does.
    private func scheduleExpiry(_ context: ChannelHandlerContext) {
        for timer in expiryTimers { timer.cancel() }
        guard let claims else { return }
        let channel = context.channel
        let secondsLeft = max(0, Int64(claims.expiresAt) - Int64(UTCDay.nowSeconds))
        expiryTimers = [
            context.eventLoop.scheduleTask(in: .seconds(max(0, secondsLeft - Self.expiryNoticeSeconds))) {
                channel.pipeline.fireUserInboundEventTriggered(ExpiryNotice())
            },
            context.eventLoop.scheduleTask(in: .seconds(secondsLeft)) {
                channel.pipeline.fireUserInboundEventTriggered(SessionCommand.revoked)
            },
        ]
    }

    private func sendTokenEvent(_ context: ChannelHandlerContext, _ event: String, expiresAt: Int) {
        let push = TokenEventPush(event: event, secondsLeft: max(0, expiresAt - Int(UTCDay.nowSeconds)))
        send(context, buffer: ByteBuffer(bytes: (try? JSONCoding.encode(push)) ?? Self.errorJSON("encoding failed")))
    }

    private func watch(_ view: Hub.View, context: ChannelHandlerContext) {
        watching = view
        pendingUpdate = nil
        hub.watch(view, session: NIOLoopBound(self, eventLoop: context.eventLoop), channel: context.channel)
    }

    /// Runs a store call for a reply and sends its JSON, or `{error}`; the socket stays open either way.
    /// The reply comes back through the pipeline, so nothing is sent after a close frame.
    private func answer(_ context: ChannelHandlerContext, _ body: @escaping @Sendable (StoreContext) throws -> [UInt8]) {
        let channel = context.channel
        workers.run(on: context.eventLoop, body).whenComplete { result in
            let text: [UInt8]
            switch result {
            case .success(let reply): text = reply
            case .failure(let error):
                let failure = SocketFailure(error)
                // A token revoked (or its player banned) since the socket opened: closed now, not at the next sweep.
                if case .unauthenticated = failure { return channel.pipeline.fireUserInboundEventTriggered(SessionCommand.revoked) }
                text = Self.errorJSON(failure.errorText)
            }
            channel.pipeline.fireUserInboundEventTriggered(Reply(text: ByteBuffer(bytes: text)))
        }
    }

    /// Every refused message is answered, with when to send again, so a client that waits for its answers
    /// never hangs; one that keeps sending regardless is closed.
    private func admitMessage(_ context: ChannelHandlerContext) -> Bool {
        switch messageAllowance.take(at: .now()) {
        case .admitted:
            return true
        case .refused(let retryAfter):
            let refusal = RefusalPush(error: "too many messages; at most \(limits.messagesPerSecond) per second", retryAfter: retryAfter)
            send(context, buffer: ByteBuffer(bytes: (try? JSONCoding.encode(refusal)) ?? Self.errorJSON(refusal.error)))
            return false
        case .refusedTooOften:
            close(context, code: .policyViolation, reason: "too many messages")
            return false
        }
    }

    // MARK: - Writing

    private func send(_ context: ChannelHandlerContext, text: String) {
        send(context, buffer: context.channel.allocator.buffer(string: text))
    }

    private func send(_ context: ChannelHandlerContext, buffer: ByteBuffer) {
        guard !isClosing else { return }
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }

    /// Writes a ready frame below the frame encoder: nothing copies or encodes it again.
    private func write(frame: ByteBuffer) {
        guard !isClosing, let encoderContext else { return }
        isPushUnwritten = true
        let written = encoderContext.eventLoop.makePromise(of: Void.self)
        encoderContext.writeAndFlush(NIOAny(frame), promise: written)
        // Completes at once when the socket took the frame, else once the client has read enough to make room.
        written.futureResult.assumeIsolated().whenComplete { _ in
            self.isPushUnwritten = false
            self.writePendingUpdate()
        }
    }

    /// Once the client has caught up (the last push is in the socket and the channel takes writes): stops the
    /// slow-client clock and writes the update held back meanwhile, if any.
    private func writePendingUpdate() {
        guard isWritable && !isPushUnwritten else { return }
        slowClientTimer?.cancel()
        slowClientTimer = nil
        if let frame = pendingUpdate {
            pendingUpdate = nil
            write(frame: frame)
        }
    }

    /// A client that stays behind for long is cut off: it must never hold up the others, nor hold our memory.
    private func startSlowClientClock() {
        guard slowClientTimer == nil, !isClosing, let context else { return }
        let channel = context.channel
        slowClientTimer = context.eventLoop.scheduleTask(in: limits.slowClientTimeout) { channel.close(promise: nil) }
    }

    private func sendError(_ context: ChannelHandlerContext, _ message: String) {
        send(context, buffer: ByteBuffer(bytes: Self.errorJSON(message)))
    }

    static func errorJSON(_ message: String) -> [UInt8] {
        (try? JSONCoding.encode(["error": message])) ?? Array(#"{"error":"error"}"#.utf8)
    }

    /// Sends a close frame with `code`, then closes the connection when the client answers with its own,
    /// or after `closeReplyTimeout`. Closing at once would make the client's next write (it may still be
    /// sending) draw a reset, and on a reset the client's TCP stack drops what the client has not read
    /// yet: our last messages and the close frame with its code. The answer to a client's close frame
    /// (`awaitingReply` false) closes once written.
    private func close(_ context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String, awaitingReply: Bool = true) {
        guard !isClosing else { return }
        isClosing = true
        stopTimers()
        var data = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(String(reason.utf8.prefix(120)) ?? "")
        let channel = context.channel
        let written = context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)))
        if awaitingReply {
            timers.append(context.eventLoop.scheduleTask(in: limits.closeReplyTimeout) { channel.close(promise: nil) })
        } else {
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    private func stopTimers() {
        for timer in timers + expiryTimers { timer.cancel() }
        timers.removeAll()
        expiryTimers.removeAll()
        slowClientTimer?.cancel()
        slowClientTimer = nil
        pinger?.cancel()
        pinger = nil
    }
}

/// Asks a session, on its own loop, to ping its client or drop it if it stopped answering.
struct Heartbeat: Sendable {}

/// Asks a session, on its own loop, to tell its client that the token expires soon.
struct ExpiryNotice: Sendable {}

/// A renewal's token as a store worker checked it, for the session to take on its own loop.
struct Renewal: Sendable {
    let result: Result<SocketAccount, any Error>
}

/// An account's token checked as REST checks it.
struct SocketAccount: Sendable {
    let claims: AccessTokenClaims
    let tokenKey: String
}

extension StoreContext {
    /// The claims and revocation key of a valid, unrevoked token whose account exists; unauthorized otherwise (signed
    /// by us for an account that is gone is refused, as /auth/me refuses it).
    func socketAccount(token: String) throws -> SocketAccount {
        let claims = try auth.authenticate(token)
        guard try stores.users.account(id: claims.userID) != nil else { throw ServiceError.unauthorized("account no longer exists") }
        return SocketAccount(claims: claims, tokenKey: AuthService.revocationKey(token: token, claims: claims))
    }
}

/// The answer to a client's message, computed on a store worker, for the session to send.
struct Reply: Sendable {
    let text: ByteBuffer
}
