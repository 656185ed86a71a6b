import Foundation
import LeaderboardCore
import LeaderboardRealtime
import Logging

let config = Startup.loadConfig(program: "leaderboard-ws")
Startup.bootstrapLogging(level: config.logLevel)
Observability.bootstrap()
let logger = Logger(label: "leaderboard-ws")

do {
    try RealtimeServer(config: config, logger: logger).run()
} catch {
    logger.critical("\(error)")
    exit(1)
}
