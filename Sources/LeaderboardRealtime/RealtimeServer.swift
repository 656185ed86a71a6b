import Foundation
import LeaderboardCore
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// The WebSocket daemon: upgrades `/ws/v1/...` requests, admits each connection once its token is
/// checked, and runs the hub and the event subscriber. SIGTERM or SIGINT stops them, lets the store jobs
/// in flight finish and answer, closes every client with 1001, and returns.
public final class RealtimeServer: Sendable {
    static let maximumFrameBytes = 16 * 1024
    /// SO_SNDBUF of each client socket (the kernel doubles it for its bookkeeping). Left to itself, Linux grows
    /// a send buffer to 4 MB (`tcp_wmem`), all of it held for a client that reads nothing; a push is at most
    /// a 100-row page of about 25 kB, and what does not fit waits in the session (Session.receive).
    static let socketSendBufferBytes = 64 * 1024
    static let shutdownGrace = TimeAmount.seconds(5)
    static let healthHandlerName = "health"

    private let config: Config
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let workers: StoreWorkers
    private let hub: Hub
    private let accountSockets: AccountSockets
    private let sentinelWatch: SentinelWatch?

    /// Whether every event loop still runs work: a hung loop stops the systemd watchdog's pings.
    public var isResponsive: Bool {
        group.makeIterator().allSatisfy { loop in (try? loop.submit { true }.wait()) == true }
    }
    private let connections = Locked<[ObjectIdentifier: any Channel]>([:])

    public init(config: Config, logger: Logger) {
        self.config = config
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        sentinelWatch = config.redis.sentinel.map { SentinelWatch(sentinel: $0, logger: logger) }
        workers = StoreWorkers(count: config.wsWorkers, config: config, following: sentinelWatch, logger: logger)
        hub = Hub(loop: group.next(), workers: workers, logger: logger)
        accountSockets = AccountSockets(limit: config.wsMaxSocketsPerAccount)
    }

    /// Binds and serves until SIGTERM or SIGINT, then stops in order and returns. `onReady` runs once
    /// the port is bound, `onStop` when the signal arrives.
    public func run(onReady: () -> Void = {}, onStop: () -> Void = {}) throws {
        Gauge(label: "leaderboard_ws_connections").record(0)
        hub.start()
        let subscriber = EventSubscriber(settings: config.redis, sink: hub, following: sentinelWatch, logger: logger)
        subscriber.start()
        sentinelWatch?.start()
        let address = "\(config.wsListen.host):\(config.wsListen.port)"
        let server: any Channel
        do {
            server = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 128 * 1024))
                .childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(Self.socketSendBufferBytes))
                .childChannelInitializer { channel in self.initialize(channel) }
                .bind(host: config.wsListen.host, port: config.wsListen.port)
                .wait()
        } catch let error as IOError where error.errnoCode != EADDRINUSE {
            throw RealtimeError.cannotListen(address: address, reason: "\(error)")
        } catch let error as SocketAddressError {
            throw RealtimeError.cannotListen(address: address, reason: "\(error)")
        }
        logger.info("listening", metadata: ["address": "\(address)"])
        onReady()

        let stop = DispatchSemaphore(value: 0)
        let signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        stop.wait()
        for source in signals { source.cancel() }
        onStop()
        logger.info("shutting down: finishing store jobs, closing clients with 1001")
        // Each step stops a source of work for the next: no new clients, no new events, no ticks; then the
        // jobs in flight answer their clients before those are told to go.
        try server.close().wait()
        sentinelWatch?.stop()
        subscriber.stop()
        try hub.stop().wait()
        workers.finish()
        let open = connections.withLock { Array($0.values) }
        Hub.deliver(SessionCommand.goingAway, to: open)
        let closed = EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: group.next())
        let deadline = group.next().scheduleTask(in: Self.shutdownGrace) { for channel in open { channel.close(promise: nil) } }
        try? closed.wait()
        deadline.cancel()
        try group.syncShutdownGracefully()
        logger.info("stopped")
    }

    private func initialize(_ channel: any Channel) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(channel)
        let (isFull, count) = connections.withLock { open in
            open[id] = channel
            return (open.count > config.wsMaxConnections, open.count)
        }
        Gauge(label: "leaderboard_ws_connections").record(count)
        channel.closeFuture.whenComplete { _ in
            let count = self.connections.withLock { open in
                open.removeValue(forKey: id)
                return open.count
            }
            Gauge(label: "leaderboard_ws_connections").record(count)
        }
        // Settled by shouldUpgrade, read by the pipeline handler: the same connection, in that order.
        let admission = NIOLockedValueBox<Admission>(.anonymous)
        // Protocol errors (a frame too large) are answered by the session: NIO's own handler would close
        // the connection right after its close frame, resetting it while the client still sends.
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: Self.maximumFrameBytes, automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                guard SocketRoute(uri: head.uri) != nil else { return channel.eventLoop.makeSucceededFuture(nil) }
                if isFull {
                    admission.withLockedValue { $0 = .refused(.init(codeNumber: 1013), reason: "too many connections; retry later") }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                }
                return self.admit(head: head, channel: channel).map { decided in
                    admission.withLockedValue { $0 = decided }
                    return HTTPHeaders()
                }
            },
            upgradePipelineHandler: { channel, head in
                // Frames must not reach the plain HTTP handler that sat behind the upgrade.
                channel.pipeline.removeHandler(name: Self.healthHandlerName).flatMapThrowing {
                    try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
                }.flatMap { nioDecoder in
                    // It reads nothing after a frame it refuses, not even the client's close: FrameDecoder does.
                    channel.pipeline.removeHandler(context: nioDecoder)
                }.flatMapThrowing {
                    let session = Session(
                        route: SocketRoute(uri: head.uri) ?? .welcome, admission: admission.withLockedValue { $0 }, hub: self.hub,
                        workers: self.workers, limits: .init(messagesPerSecond: self.config.wsMessagesPerSecond), logger: self.logger)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: Self.maximumFrameBytes)))
                    try channel.pipeline.syncOperations.addHandler(FrameValidator())
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: Self.maximumFrameBytes))
                    try channel.pipeline.syncOperations.addHandler(session)
                }
            })
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            try channel.pipeline.syncOperations.addHandler(HealthHandler(), name: Self.healthHandlerName)
        }
    }

    /// The token of an upgrade request (Bearer, or cookie `ath` from a trusted origin), checked like REST does,
    /// revocation and account included; an account's socket counts against its cap until the connection closes.
    private func admit(head: HTTPRequestHead, channel: any Channel) -> EventLoopFuture<Admission> {
        guard let token = head.upgradeToken(allowedOrigins: config.corsOrigins) else { return channel.eventLoop.makeSucceededFuture(.anonymous) }
        return workers.run(on: channel.eventLoop) { store -> Admission in
            do {
                let account = try store.socketAccount(token: token)
                return .account(account.claims, tokenKey: account.tokenKey)
            } catch {
                if case .unauthenticated(let reason) = SocketFailure(error) { return .invalidToken(reason: reason.text) }
                return .refused(.init(codeNumber: 1013), reason: "cannot check the token now; retry later")
            }
        }.map { (admission: Admission) -> Admission in
            guard case .account(let claims, _) = admission else { return admission }
            let accountSockets = self.accountSockets
            guard accountSockets.claim(userID: claims.userID) else {
                return .refused(.policyViolation, reason: "too many sockets for this account; at most \(accountSockets.limit)")
            }
            channel.closeFuture.whenComplete { _ in accountSockets.release(userID: claims.userID) }
            return admission
        }
    }
}

public enum RealtimeError: Error, CustomStringConvertible {
    /// `WS_LISTEN` cannot work as given (a host that does not resolve, an address not this machine's): a setting to
    /// correct. A port another process holds is not one: that may pass, and the daemon exits 1 then.
    case cannotListen(address: String, reason: String)

    public var description: String {
        switch self {
        case .cannotListen(let address, let reason): "cannot listen on \(address): \(reason)"
        }
    }
}
