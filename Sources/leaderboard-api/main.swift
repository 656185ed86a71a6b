import Foundation
import LeaderboardCore
import Logging

let config = Startup.loadConfig(program: "leaderboard-api")
Startup.bootstrapLogging(level: config.logLevel)
Observability.bootstrap()
let logger = Logger(label: "leaderboard-api")

do {
    let server = try FastCGIServer(
        address: config.apiListen, workerCount: config.apiWorkers, maxBodyBytes: config.maxBodyBytes, logger: logger
    ) {
        let api = APIService(config: config, stores: .live(config: config), logger: logger)
        return api.respond(to:)
    }
    // The reconciler applies scores answered 202 and rebuilds an emptied index; it ends with the process.
    Thread.detachNewThread {
        let reconciler = IndexReconciler(
            database: PostgresConnection(settings: config.postgres), redis: RedisConnection(settings: config.redis),
            logger: Logger(label: "reconciler"))
        reconciler.run { false }
    }
    logger.info("listening", metadata: ["address": "\(config.apiListen)", "mode": "\(config.mode.rawValue)"])
    server.run()
} catch {
    logger.critical("\(error)")
    exit(1)
}
