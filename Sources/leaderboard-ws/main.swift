import Foundation
import LeaderboardCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

let config = Startup.loadConfig(program: "leaderboard-ws")
Startup.bootstrapLogging(level: config.logLevel)
let logger = Logger(label: "leaderboard-ws")

guard case .tcp(let host, let port) = config.wsListen else {
    logger.critical("WS_LISTEN must be host:port")
    exit(Startup.configurationExitCode)
}

let group = MultiThreadedEventLoopGroup.singleton
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(HealthHandler())
        }
    }
    .bind(host: host, port: port)
    .wait()
logger.info("listening", metadata: ["address": "\(config.wsListen)"])

// SIGTERM and SIGINT close the listener, so the process exits 0 once it is closed.
let signalQueue = DispatchQueue(label: "signals")
let signalSources = [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
    source.setEventHandler { channel.close(promise: nil) }
    source.resume()
    return source
}
try channel.closeFuture.wait()
logger.info("stopped")
