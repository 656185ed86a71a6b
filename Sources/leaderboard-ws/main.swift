import Foundation
import LeaderboardCore
import LeaderboardRealtime
import Logging

let config = Startup.loadConfig(program: "leaderboard-ws")
Startup.bootstrapLogging(level: config.logLevel)
Observability.bootstrap()
let logger = Logger(label: "leaderboard-ws")
// Does nothing unless systemd runs us as a Type=notify unit.
let systemd = SystemdNotifier(logger: logger)

do {
    let server = RealtimeServer(config: config, logger: logger)
    try server.run(
        onReady: {
            systemd.startWatchdog { server.isResponsive }
            systemd.notify(.ready, .status("listening on \(config.wsListen.host):\(config.wsListen.port)"))
        },
        onStop: { systemd.notify(.stopping, .status("closing clients with 1001")) })
} catch let error as RealtimeError {
    Startup.stopForConfiguration(program: "leaderboard-ws", "WS_LISTEN: \(error)")
} catch {
    logger.critical("\(error)")
    exit(1)
}
